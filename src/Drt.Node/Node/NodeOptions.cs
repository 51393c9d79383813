using Drt.Node.Cli;
using Microsoft.Extensions.Configuration;

namespace Drt.Node.Node;

/// <summary>
/// How <c>drt node</c> runs, bound from configuration: defaults, then a JSON file (<c>--config</c>), then <c>DRT_</c>
/// environment variables (<c>DRT_PORT</c>, <c>DRT_BOOTSTRAP__0</c> …), then command-line flags, each overriding the
/// one before. The lists <see cref="Bind"/> and <see cref="Bootstrap"/> come whole from the last source that gives
/// them (<see cref="ConfigurationLists"/>), as a list or as one comma-separated string.
/// </summary>
internal sealed class NodeOptions
{
    /// <summary>The instance name (logs and metrics).</summary>
    public string Name { get; set; } = "drt";

    /// <summary>UDP port; 0 picks a free one.</summary>
    public int Port { get; set; } = 3540;

    /// <summary>The addresses to bind, at most 8 (none: dual-stack <c>::</c>, every address).</summary>
    public List<string> Bind { get; set; } = [];

    /// <summary>Where to find the ring: host:port, [v6]:port, DNS names.</summary>
    public List<string> Bootstrap { get; set; } = [];

    /// <summary>The overlay's network id; nodes with other ids ignore each other.</summary>
    public uint NetworkId { get; set; } = new Overlay.DrtSettings().NetworkId;

    /// <summary>Security mode: none, resolve, membership or confidential (docs/security.md).</summary>
    public string Security { get; set; } = "none";

    /// <summary>The instance's identity (Ed25519, PEM); created with mode 0600 when missing. Default DATA_DIR/identity.pem.</summary>
    public string? Identity { get; set; }

    /// <summary>Membership and confidential: this node's credential (from 'drt credential issue').</summary>
    public string? Credential { get; set; }

    /// <summary>Membership and confidential: the root's public key, as 64 hex digits in a file or the root key file itself.</summary>
    public string? RootKey { get; set; }

    /// <summary>The data directory: peer cache, control socket.</summary>
    public string? DataDir { get; set; }

    /// <summary>The control socket's path (default: control.sock in the data directory).</summary>
    public string? Control { get; set; }

    /// <summary>Keys to register at start-up: 64 hex digits each, or (in a secure mode) a classifier the key derives from.</summary>
    public List<string> Register { get; set; } = [];

    /// <summary>The app data of the keys registered at start-up (UTF-8).</summary>
    public string Data { get; set; } = "drt";

    /// <summary>Serves Prometheus text at http://MetricsAddress:MetricsPort/metrics when set (1..65535).</summary>
    public int? MetricsPort { get; set; }

    /// <summary>The address the metrics endpoint listens on (loopback unless told).</summary>
    public string MetricsAddress { get; set; } = "127.0.0.1";

    /// <summary>Maintenance period in milliseconds (how often leaf sets are exchanged).</summary>
    public int MaintenancePeriodMs { get; set; } = (int)new Overlay.DrtSettings().MaintenancePeriod.TotalMilliseconds;

    /// <summary>The data directory to use: the option, DRT's default under the user's local data.</summary>
    public string ResolvedDataDir => DataDir ?? DefaultDataDir();

    /// <summary>The identity file to use.</summary>
    public string ResolvedIdentity => Identity ?? Path.Combine(ResolvedDataDir, "identity.pem");

    /// <summary>The security mode, parsed (Validate has checked it).</summary>
    public Overlay.Security.DrtSecurityMode Mode => Security.ToLowerInvariant() switch
    {
        "resolve" => Overlay.Security.DrtSecurityMode.Resolve,
        "membership" => Overlay.Security.DrtSecurityMode.Membership,
        "confidential" => Overlay.Security.DrtSecurityMode.Confidential,
        _ => Overlay.Security.DrtSecurityMode.None,
    };

    /// <summary>The addresses to bind, parsed and checked (Validate has checked them).</summary>
    public System.Net.IPAddress[] BindAddresses => Parsing.BindAddresses(Flatten(Bind));

    /// <summary>The control socket path to use.</summary>
    public string ResolvedControl => Control ?? Path.Combine(ResolvedDataDir, "control.sock");

    /// <summary>
    /// The options <paramref name="configuration"/> gives: bound as usual, then the lists read whole from the last source
    /// that gives each (<see cref="ConfigurationLists"/>).
    /// </summary>
    /// <exception cref="UsageException">A value that does not convert (a port that is not a number, say).</exception>
    public static NodeOptions From(IConfigurationRoot configuration)
    {
        var options = new NodeOptions();
        try
        {
            configuration.Bind(options);
        }
        catch (InvalidOperationException error)
        {
            throw new UsageException($"configuration: {error.Message}");
        }

        options.Bind = ConfigurationLists.Read(configuration, nameof(Bind)) ?? [];
        options.Bootstrap = ConfigurationLists.Read(configuration, nameof(Bootstrap)) ?? [];
        return options;
    }

    /// <summary>Splits comma-separated entries (so DRT_BOOTSTRAP=a:1,b:2 works as well as DRT_BOOTSTRAP__0).</summary>
    public static List<string> Flatten(IEnumerable<string> values) =>
        [.. values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];

    /// <summary>The default data directory: $DRT_DATA_DIR, else drt under the user's local application data.</summary>
    public static string DefaultDataDir() =>
        Environment.GetEnvironmentVariable("DRT_DATA_DIR") is { Length: > 0 } fromEnvironment
            ? fromEnvironment
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "drt");

    /// <summary>Whether <paramref name="text"/> is written as a key (64 hex digits) rather than a classifier.</summary>
    public static bool IsHexKey(string text) => text.Length == 64 && text.All(Uri.IsHexDigit);

    /// <summary>Throws <see cref="UsageException"/> naming the first option out of range.</summary>
    public void Validate()
    {
        if (Port is < 0 or > 65535)
        {
            throw new UsageException($"--port {Port} is outside 0..65535 (0 picks a free port)");
        }

        if (Security.ToLowerInvariant() is not ("none" or "resolve" or "membership" or "confidential"))
        {
            throw new UsageException($"--security {Security} is not a mode; use none, resolve, membership or confidential");
        }

        if (Mode >= Overlay.Security.DrtSecurityMode.Membership && (Credential is null || RootKey is null))
        {
            throw new UsageException($"--security {Security} needs --credential FILE (drt credential issue) and --root-key FILE (the root's public key)");
        }

        if (MaintenancePeriodMs is < 100 or > 3_600_000)
        {
            throw new UsageException($"maintenance period {MaintenancePeriodMs} ms is outside 100..3600000");
        }

        _ = BindAddresses;
        if (MetricsPort is < 1 or > 65535)
        {
            throw new UsageException($"--metrics-port {MetricsPort} is outside 1..65535");
        }

        if (!System.Net.IPAddress.TryParse(MetricsAddress, out _))
        {
            throw new UsageException($"metrics address '{MetricsAddress}' is not an IP address");
        }
        foreach (string key in Register)
        {
            if (Mode == Overlay.Security.DrtSecurityMode.None || IsHexKey(key))
            {
                _ = Parsing.Key(key, "--register");
            }
        }

        foreach (string endpoint in Flatten(Bootstrap))
        {
            _ = Parsing.HostAndPort(endpoint);
        }
    }
}
