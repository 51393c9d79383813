using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Xunit;

namespace Drt.Node.Tests;

/// <summary>
/// The real drt executable (drt.dll beside the tests) run as a child process: one-shot commands with their exit code
/// and output, and <c>drt node</c> daemons that are stopped by their pid at the end (SIGTERM first, then SIGKILL).
/// </summary>
internal static partial class DrtProcess
{
    private static readonly string s_drt = Path.Combine(AppContext.BaseDirectory, "drt.dll");

    public static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>Runs <c>drt ARGS</c> to its end (at most a minute) and returns exit code, stdout and stderr.</summary>
    public static async Task<(int Exit, string Out, string Err)> RunAsync(params string[] args)
    {
        using Process process = Start(args);
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(Cancel);
        Task<string> stderr = process.StandardError.ReadToEndAsync(Cancel);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        limit.CancelAfter(TimeSpan.FromMinutes(1));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new Xunit.Sdk.XunitException($"drt {string.Join(' ', args)} did not end within a minute");
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Each line of a --json output, parsed.</summary>
    public static List<JsonElement> JsonLines(string output) =>
        [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone())];

    /// <summary>Starts <c>drt ARGS</c> with its output redirected.</summary>
    public static Process Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(s_drt);
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Remove("DRT_DATA_DIR");
        info.Environment.Remove("DRT_CONTROL");
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }
        return Process.Start(info) ?? throw new InvalidOperationException("could not start dotnet drt.dll");
    }

    /// <summary>Sends SIGTERM (as systemd and Ctrl+C-like shutdowns do).</summary>
    public static void Terminate(Process process)
    {
        if (!OperatingSystem.IsWindows() && !process.HasExited)
        {
            _ = Kill(process.Id, 15);
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}

/// <summary>A <c>drt node</c> daemon on loopback with its own data directory (peer cache and control socket).</summary>
internal sealed class DrtNode : IAsyncDisposable
{
    private readonly StringBuilder _log = new();
    private Process? _process;

    private DrtNode(string dataDir) => DataDir = dataDir;

    public string DataDir { get; }

    public string Control => Path.Combine(DataDir, "control.sock");

    public int Port { get; private set; }

    /// <summary>The node's IPv4 loopback endpoint (on its first port; every node binds 127.0.0.1 or a dual-stack ::).</summary>
    public string Endpoint => $"127.0.0.1:{Port}";

    public int? ExitCode => _process is { HasExited: true } p ? p.ExitCode : null;

    /// <summary>What the node wrote on stderr (its log).</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>A new data directory under /tmp (short: a Unix socket path has at most 107 bytes).</summary>
    public static string NewDataDir() => Directory.CreateTempSubdirectory("drt-").FullName;

    /// <summary>Starts a node and waits (bounded) until its control socket answers; returns it with its UDP port.</summary>
    public static async Task<DrtNode> StartAsync(string? dataDir = null, params string[] extra)
    {
        var node = new DrtNode(dataDir ?? NewDataDir());
        await node.StartProcessAsync(extra, null);
        return node;
    }

    /// <summary>Starts a node with <paramref name="environment"/> set (DRT_ variables, say).</summary>
    public static async Task<DrtNode> StartWithEnvironmentAsync(IReadOnlyDictionary<string, string> environment, params string[] extra)
    {
        var node = new DrtNode(NewDataDir());
        await node.StartProcessAsync(extra, environment);
        return node;
    }

    /// <summary>Starts the node again on the same data directory (its peer cache), with <paramref name="extra"/> flags.</summary>
    public Task RestartAsync(params string[] extra) => StartProcessAsync(extra, null);

    /// <summary>drt ARGS against this node's control socket.</summary>
    public Task<(int Exit, string Out, string Err)> CliAsync(params string[] args) => DrtProcess.RunAsync([.. args, "--control", Control]);

    /// <summary>The node's status (drt status --json).</summary>
    public async Task<JsonElement> StatusAsync()
    {
        (int exit, string output, string error) = await CliAsync("status", "--json");
        Assert.True(exit == 0, $"status failed ({exit}): {error}");
        return DrtProcess.JsonLines(output)[0];
    }

    /// <summary>SIGTERM, then waits (at most 30 s) for the exit; returns the exit code.</summary>
    public async Task<int> StopAsync()
    {
        Process process = _process!;
        DrtProcess.Terminate(process);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(DrtProcess.Cancel);
        limit.CancelAfter(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(limit.Token);
        return process.ExitCode;
    }

    /// <summary>SIGKILL: the node dies without a goodbye.</summary>
    public async Task KillAsync()
    {
        _process!.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync(DrtProcess.Cancel);
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false } process)
        {
            DrtProcess.Terminate(process);
            if (!process.WaitForExit(TimeSpan.FromSeconds(20)))
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None);
            }
        }

        _process?.Dispose();
        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open: the directory is under /tmp and goes with it.
        }
    }

    private async Task StartProcessAsync(string[] extra, IReadOnlyDictionary<string, string>? environment)
    {
        _process?.Dispose();
        // Loopback unless the test binds its own addresses (--bind is repeatable: the default would add to them).
        string[] bind = extra.Contains("--bind") ? [] : ["--bind", "127.0.0.1"];
        string[] args = ["node", "--port", Port == 0 ? "0" : Port.ToString(System.Globalization.CultureInfo.InvariantCulture), .. bind, "--data-dir", DataDir, "--maintenance-ms", "500", .. extra];
        Process process = DrtProcess.Start(args, environment);
        _process = process;
        process.ErrorDataReceived += (_, line) =>
        {
            lock (_log)
            {
                _log.AppendLine(line.Data);
            }
        };
        process.OutputDataReceived += (_, line) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();

        // Ready when the control socket answers (bounded: 30 s).
        for (int i = 0; i < 120; i++)
        {
            if (process.HasExited)
            {
                throw new Xunit.Sdk.XunitException($"drt node exited with {process.ExitCode}: {Log}");
            }

            if (File.Exists(Control))
            {
                (int exit, string output, _) = await DrtProcess.RunAsync("status", "--json", "--control", Control);
                if (exit == 0)
                {
                    string endpoint = DrtProcess.JsonLines(output)[0].GetProperty("endpoints")[0].GetString()!;
                    Port = int.Parse(endpoint[(endpoint.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
                    return;
                }
            }

            await Task.Delay(250, DrtProcess.Cancel);
        }

        throw new Xunit.Sdk.XunitException($"drt node did not answer on {Control} within 30 s: {Log}");
    }
}
