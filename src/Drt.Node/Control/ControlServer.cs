using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Drt.Node.Control;

/// <summary>
/// Listens on a Unix domain socket (mode 0600, in a 0700 directory) and answers <see cref="ControlRequest"/>s through
/// a <see cref="ControlHandler"/>. Each connection is served on its own task, one request at a time; a bad frame gets
/// an error frame and the connection is closed; nothing a client sends reaches the node's state except well-formed
/// requests.
/// </summary>
internal sealed partial class ControlServer : IAsyncDisposable
{
    /// <summary>Connections served at once; more wait in the listen backlog.</summary>
    private const int MaxConnections = 32;

    private readonly Socket _listener;
    private readonly ControlHandler _handler;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _slots = new(MaxConnections);
    private readonly Task _accepting;

    private ControlServer(string path, Socket listener, ControlHandler handler, ILogger log)
    {
        Path = path;
        _listener = listener;
        _handler = handler;
        _log = log;
        _accepting = AcceptAsync();
    }

    /// <summary>The socket's path.</summary>
    public string Path { get; }

    /// <summary>
    /// Binds <paramref name="path"/>. A socket file left by a node that died is replaced; one with a live node behind it
    /// is an error (two nodes cannot share a control socket).
    /// </summary>
    public static async Task<ControlServer> StartAsync(string path, ControlHandler handler, ILogger log)
    {
        string directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        if (File.Exists(path))
        {
            if (await ControlClient.IsAnsweringAsync(path).ConfigureAwait(false))
            {
                throw new IOException($"another node is answering on {path}; stop it or give this one another --control path");
            }

            File.Delete(path); // stale: its node is gone
        }

        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite); // only its owner may drive the node
            }

            listener.Listen(MaxConnections);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        return new ControlServer(path, listener, handler, log);
    }

    /// <summary>Stops accepting, ends the connections and removes the socket file.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _accepting.ConfigureAwait(false);
        try
        {
            File.Delete(Path);
        }
        catch (IOException error)
        {
            Log.SocketFileNotRemoved(_log, Path, error.Message);
        }

        _stopping.Dispose();
    }

    private async Task AcceptAsync()
    {
        var connections = new List<Task>();
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                await _slots.WaitAsync(_stopping.Token).ConfigureAwait(false);
                client = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception error) when (error is OperationCanceledException or ObjectDisposedException or SocketException && _stopping.IsCancellationRequested)
            {
                break;
            }
            catch (SocketException error)
            {
                Log.AcceptFailed(_log, error.SocketErrorCode.ToString());
                _slots.Release();
                continue;
            }

            connections.RemoveAll(t => t.IsCompleted);
            connections.Add(ServeAsync(client));
        }

        await Task.WhenAll(connections).ConfigureAwait(false);
    }

    private async Task ServeAsync(Socket client)
    {
        await using var stream = new NetworkStream(client, ownsSocket: true);
        PipeReader reader = PipeReader.Create(stream);
        PipeWriter writer = PipeWriter.Create(stream);
        try
        {
            while (true)
            {
                (FrameStatus status, ControlRequest? request, string? problem) = await ControlFraming.ReadAsync<ControlRequest>(reader, _stopping.Token).ConfigureAwait(false);
                if (status == FrameStatus.Closed)
                {
                    break;
                }

                if (status == FrameStatus.Bad)
                {
                    Log.BadFrame(_log, problem!);
                    await ControlFraming.WriteAsync(writer, ControlResponse.Failure("BadFrame", $"bad frame: {problem}"), _stopping.Token).ConfigureAwait(false);
                    break;
                }

                ControlResponse response = await _handler.HandleAsync(request!, _stopping.Token).ConfigureAwait(false);
                await ControlFraming.WriteAsync(writer, response, _stopping.Token).ConfigureAwait(false);
            }
        }
        catch (Exception error) when (error is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // The client went away or the node is stopping: this connection is done, the node is not affected.
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            await writer.CompleteAsync().ConfigureAwait(false);
            _slots.Release();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Control socket: {Problem}; answered with an error and closed the connection")]
        public static partial void BadFrame(ILogger logger, string problem);

        [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Control socket: accept failed ({Error}); still listening")]
        public static partial void AcceptFailed(ILogger logger, string error);

        [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "Control socket file {Path} was not removed: {Error}")]
        public static partial void SocketFileNotRemoved(ILogger logger, string path, string error);
    }
}
