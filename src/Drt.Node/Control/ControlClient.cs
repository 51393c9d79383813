using System.IO.Pipelines;
using System.Net.Sockets;

namespace Drt.Node.Control;

/// <summary>No node answered on the control socket.</summary>
internal sealed class NodeUnreachableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Sends one request to a running node over its control socket and reads the answer.</summary>
internal static class ControlClient
{
    /// <summary>
    /// Sends <paramref name="request"/> to the node at <paramref name="path"/> and returns its response. Throws
    /// <see cref="NodeUnreachableException"/> when no node answers there.
    /// </summary>
    public static async Task<ControlResponse> SendAsync(string path, ControlRequest request, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException error)
        {
            throw new NodeUnreachableException($"no node answers on {path} ({error.SocketErrorCode}); start one with 'drt node', or give its socket with --control", error);
        }

        await using var stream = new NetworkStream(socket, ownsSocket: false);
        PipeReader reader = PipeReader.Create(stream);
        PipeWriter writer = PipeWriter.Create(stream);
        try
        {
            await ControlFraming.WriteAsync(writer, request, cancellationToken).ConfigureAwait(false);
            (FrameStatus status, ControlResponse? response, string? problem) = await ControlFraming.ReadAsync<ControlResponse>(reader, cancellationToken).ConfigureAwait(false);
            return status == FrameStatus.Ok
                ? response!
                : throw new NodeUnreachableException($"the node at {path} closed the connection without an answer{(problem is null ? "" : $" ({problem})")}");
        }
        catch (IOException error)
        {
            throw new NodeUnreachableException($"the node at {path} went away during the request ({error.Message})", error);
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            await writer.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Whether a node answers a status request at <paramref name="path"/> (within two seconds).</summary>
    public static async Task<bool> IsAnsweringAsync(string path)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            return (await SendAsync(path, new ControlRequest { Op = "status" }, timeout.Token).ConfigureAwait(false)).Ok;
        }
        catch (Exception error) when (error is NodeUnreachableException or OperationCanceledException)
        {
            return false;
        }
    }
}
