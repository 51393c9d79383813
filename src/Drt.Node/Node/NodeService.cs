using System.Text;
using Drt.Node.Cli;
using Drt.Node.Control;
using Drt.Overlay;
using Drt.Overlay.Bootstrap;
using Drt.Overlay.Security;
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
    private DrtIdentity? _identity;
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
            BindAddresses = options.BindAddresses,
            NetworkId = options.NetworkId,
            MaintenancePeriod = TimeSpan.FromMilliseconds(options.MaintenancePeriodMs),
            BootstrapProvider = new CompositeBootstrapProvider(providers),
            SecurityProvider = await SecurityProviderAsync(cancellationToken).ConfigureAwait(false),
        };

        _instance = await DrtInstance.OpenAsync(settings, cancellationToken).ConfigureAwait(false);
        _instance.StatusChanged += (_, change) => Log.StatusChanged(log, change.PreviousStatus, change.Status, string.Join(", ", change.BootstrapEndpoints.Select(Parsing.Format)), change.BootstrapProblem ?? "");
        var handler = new ControlHandler(_instance);
        byte[] data = Encoding.UTF8.GetBytes(options.Data);
        foreach (string entry in options.Register)
        {
            if (options.Mode != DrtSecurityMode.None && !NodeOptions.IsHexKey(entry))
            {
                await handler.RegisterDerivedAsync(entry, data, cancellationToken).ConfigureAwait(false); // a classifier
            }
            else
            {
                await handler.RegisterAsync(Parsing.Key(entry, "--register"), data, cancellationToken).ConfigureAwait(false);
            }
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

        _identity?.Dispose();
    }

    /// <summary>
    /// The provider for the configured mode: none needs nothing; resolve needs the identity (created with mode 0600 when
    /// missing); membership and confidential also the root's public key and this node's credential.
    /// </summary>
    private async Task<ISecurityProvider> SecurityProviderAsync(CancellationToken cancellationToken)
    {
        DrtSecurityMode mode = options.Mode;
        if (mode == DrtSecurityMode.None)
        {
            return NullSecurityProvider.Instance;
        }

        string path = options.ResolvedIdentity;
        if (File.Exists(path))
        {
            _identity = KeyCommands.LoadIdentity(path, "--identity");
        }
        else
        {
            _identity = DrtIdentity.Create();
            await _identity.SaveAsync(path, cancellationToken).ConfigureAwait(false);
            Log.IdentityCreated(log, path);
        }

        if (mode == DrtSecurityMode.Resolve)
        {
            return new DerivedKeySecurityProvider(mode, _identity, options.NetworkId);
        }

        string credentialText = await File.ReadAllTextAsync(options.Credential!, cancellationToken).ConfigureAwait(false);
        if (!DrtCredential.TryParseText(credentialText, out DrtCredential? credential))
        {
            throw new UsageException($"--credential {options.Credential} is not a credential (make one with 'drt credential issue')");
        }

        return new DerivedKeySecurityProvider(mode, _identity, options.NetworkId, await RootPublicKeyAsync(options.RootKey!, cancellationToken).ConfigureAwait(false), credential);
    }

    /// <summary>The root's public key from a file holding its 64 hex digits, or from the root key file itself.</summary>
    private static async Task<byte[]> RootPublicKeyAsync(string path, CancellationToken cancellationToken)
    {
        string text = (await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false)).Trim();
        if (text.Length == 2 * DrtIdentity.PublicKeyLength && text.All(Uri.IsHexDigit))
        {
            return Convert.FromHexString(text);
        }

        using DrtIdentity root = KeyCommands.LoadIdentity(path, "--root-key");
        return root.PublicKey.ToArray();
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

        [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "Created a new identity in {Path} (mode 0600)")]
        public static partial void IdentityCreated(ILogger logger, string path);

        [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Node {Name} closed: keys unregistered, peer cache saved")]
        public static partial void Stopped(ILogger logger, string name);

        public static void StatusChanged(ILogger logger, DrtStatus previous, DrtStatus status, string bootstrap, string problem) =>
            StatusChangedCore(logger, previous, status, bootstrap.Length > 0 ? $"; trying {bootstrap}" : "", problem.Length > 0 ? $" ({problem})" : "");
    }
}
