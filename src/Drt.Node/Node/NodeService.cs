using System.Text;
using Drt.Node.Cli;
using Drt.Node.Control;
using Drt.Overlay;
using Drt.Overlay.Bootstrap;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Drt.Node.Node;

/// <summary>
/// The peer <c>drt node</c> runs: opens the instance (peer cache first, then the bootstrap endpoints), registers the
/// start-up keys, serves the control socket; on stop (SIGINT, SIGTERM) closes the socket, unregisters every key and
/// saves the peer cache.
/// </summary>
internal sealed partial class NodeService(NodeOptions options, ILogger<NodeService> log) : IHostedService
{
    private DrtInstance? _instance;
    private ControlServer? _control;
    private PrometheusEndpoint? _metrics;

    /// <inheritdoc/>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        string dataDir = options.ResolvedDataDir;
        CreatePrivateDirectory(dataDir);
        var peerCache = new PeerCacheBootstrapProvider(Path.Combine(dataDir, "peers.txt"));
        IBootstrapProvider[] providers = [peerCache, .. NodeOptions.Flatten(options.Bootstrap).Select(Parsing.Bootstrap)];
        var settings = new DrtSettings
        {
            InstanceName = options.Name,
            Port = options.Port,
            BindAddress = Parsing.BindAddress(options.Bind),
            NetworkId = options.NetworkId,
            MaintenancePeriod = TimeSpan.FromMilliseconds(options.MaintenancePeriodMs),
            BootstrapProvider = new CompositeBootstrapProvider(providers),
        };

        _instance = await DrtInstance.OpenAsync(settings, cancellationToken).ConfigureAwait(false);
        _instance.StatusChanged += (_, change) => Log.StatusChanged(log, change.PreviousStatus, change.Status, string.Join(", ", change.BootstrapEndpoints.Select(Parsing.Format)), change.BootstrapProblem ?? "");
        var handler = new ControlHandler(_instance);
        byte[] data = Encoding.UTF8.GetBytes(options.Data);
        foreach (string key in options.Register)
        {
            await handler.RegisterAsync(Parsing.Key(key, "--register"), data, cancellationToken).ConfigureAwait(false);
        }

        _control = await ControlServer.StartAsync(options.ResolvedControl, handler, log).ConfigureAwait(false);
        if (options.MetricsPort is int metricsPort)
        {
            _metrics = PrometheusEndpoint.Start(System.Net.IPAddress.Parse(options.MetricsAddress), metricsPort, log);
            Log.Metrics(log, _metrics.Url);
        }

        Log.Started(log, options.Name, string.Join(", ", _instance.LocalEndpoints.Select(Parsing.Format)), _control.Path, options.Register.Count);
    }

    /// <inheritdoc/>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_metrics is not null)
        {
            await _metrics.DisposeAsync().ConfigureAwait(false);
        }

        if (_control is not null)
        {
            await _control.DisposeAsync().ConfigureAwait(false);
        }

        if (_instance is not null)
        {
            await _instance.CloseAsync().ConfigureAwait(false); // unregisters every key and saves the peers that answered
            Log.Stopped(log, options.Name);
        }
    }

    /// <summary>Creates <paramref name="path"/> readable by its owner only (the control socket and identity live there).</summary>
    private static void CreatePrivateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Node {Name} listening on {Endpoints}; control socket {Control}; {Keys} key(s) registered at start")]
        public static partial void Started(ILogger logger, string name, string endpoints, string control, int keys);

        [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Status {Previous} -> {Status}{Bootstrap}{Problem}")]
        private static partial void StatusChangedCore(ILogger logger, DrtStatus previous, DrtStatus status, string bootstrap, string problem);

        [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Metrics (Prometheus text) at {Url}")]
        public static partial void Metrics(ILogger logger, string url);

        [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Node {Name} closed: keys unregistered, peer cache saved")]
        public static partial void Stopped(ILogger logger, string name);

        public static void StatusChanged(ILogger logger, DrtStatus previous, DrtStatus status, string bootstrap, string problem) =>
            StatusChangedCore(logger, previous, status, bootstrap.Length > 0 ? $"; trying {bootstrap}" : "", problem.Length > 0 ? $" ({problem})" : "");
    }
}
