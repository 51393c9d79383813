using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Drt.Overlay.Bootstrap;

/// <summary>A fixed list of endpoints, as given (the command line's <c>--bootstrap host:port</c> once resolved).</summary>
public sealed class StaticBootstrapProvider : IBootstrapProvider
{
    private readonly IPEndPoint[] _endpoints;

    /// <summary>Creates a provider that always answers with <paramref name="endpoints"/>, in order.</summary>
    public StaticBootstrapProvider(IEnumerable<IPEndPoint> endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        _endpoints = [.. endpoints];
        if (Array.Exists(_endpoints, e => e is null))
        {
            throw new DrtException(DrtError.InvalidArgument, "A static bootstrap endpoint is null; give each as an address and port.");
        }
    }

    /// <inheritdoc/>
    public ValueTask<BootstrapResult> ResolveAsync(BootstrapPurpose purpose, int maxEndpoints, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(new BootstrapResult(_endpoints.Take(Math.Max(maxEndpoints, 0)).ToArray()));
    }

    /// <inheritdoc/>
    public ValueTask RegisterAsync(IReadOnlyList<IPEndPoint> ownEndpoints, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <inheritdoc/>
    public ValueTask UnregisterAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
}

/// <summary>
/// A DNS host name and port (DRT's DNS bootstrap resolver): every A and AAAA record, IPv6 first, resolved afresh on
/// each call so that a changed record is picked up. A failed lookup is reported, not thrown.
/// </summary>
public sealed class DnsBootstrapProvider : IBootstrapProvider
{
    private readonly Func<string, CancellationToken, Task<IPAddress[]>> _resolve;

    /// <summary>Creates a provider for <paramref name="hostName"/>:<paramref name="port"/>.</summary>
    public DnsBootstrapProvider(string hostName, int port)
        : this(hostName, port, Dns.GetHostAddressesAsync)
    {
    }

    /// <summary>Creates a provider with another resolver (tests).</summary>
    internal DnsBootstrapProvider(string hostName, int port, Func<string, CancellationToken, Task<IPAddress[]>> resolve)
    {
        if (string.IsNullOrWhiteSpace(hostName))
        {
            throw new DrtException(DrtError.InvalidArgument, "The bootstrap host name is empty; give a DNS name such as drt.example.net.");
        }

        if (port is < 1 or > 65535)
        {
            throw new DrtException(DrtError.InvalidArgument, $"The bootstrap port must be in 1..65535; it was {port}.");
        }

        HostName = hostName;
        Port = port;
        _resolve = resolve;
    }

    /// <summary>The host name looked up.</summary>
    public string HostName { get; }

    /// <summary>The port every address is paired with.</summary>
    public int Port { get; }

    /// <inheritdoc/>
    public async ValueTask<BootstrapResult> ResolveAsync(BootstrapPurpose purpose, int maxEndpoints, CancellationToken cancellationToken)
    {
        IPAddress[] addresses;
        try
        {
            addresses = await _resolve(HostName, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException error)
        {
            return BootstrapResult.Failed($"DNS lookup of {HostName} failed: {error.SocketErrorCode} ({error.Message}).");
        }
        catch (ArgumentException error)
        {
            return BootstrapResult.Failed($"{HostName} is not a host name DNS can look up: {error.Message}");
        }

        IPEndPoint[] endpoints = [.. addresses
            .Where(a => a.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
            .OrderBy(a => a.AddressFamily == AddressFamily.InterNetworkV6 ? 0 : 1)
            .Distinct()
            .Take(Math.Max(maxEndpoints, 0))
            .Select(a => new IPEndPoint(a, Port))];
        return endpoints.Length == 0 ? BootstrapResult.Failed($"DNS has no A or AAAA record for {HostName}.") : new BootstrapResult(endpoints);
    }

    /// <inheritdoc/>
    public ValueTask RegisterAsync(IReadOnlyList<IPEndPoint> ownEndpoints, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <inheritdoc/>
    public ValueTask UnregisterAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
}

/// <summary>
/// Peers that answered before, kept in a file so that a restarted instance tries them first. The instance tells the
/// cache which peers proved themselves (<see cref="ReportPeersAsync"/>: when it becomes active and when it closes); the file is plain text, one
/// <c>address:port</c> per line, most recent first, at most <see cref="Capacity"/> lines. An unreadable or damaged
/// file is reported and treated as empty; a damaged line is skipped.
/// </summary>
public sealed class PeerCacheBootstrapProvider : IBootstrapProvider
{
    private readonly List<IPEndPoint> _peers = [];
    private readonly Lock _gate = new();
    private string? _loadProblem;
    private bool _loaded;

    /// <summary>Creates a cache kept in <paramref name="path"/> (created on the first save).</summary>
    public PeerCacheBootstrapProvider(string path, int capacity = 64)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new DrtException(DrtError.InvalidArgument, "The peer cache path is empty; give a file path, e.g. under the node's data directory.");
        }

        if (capacity is < 1 or > 4096)
        {
            throw new DrtException(DrtError.InvalidArgument, $"The peer cache capacity must be in 1..4096; it was {capacity}.");
        }

        Path = path;
        Capacity = capacity;
    }

    /// <summary>The file the cache is kept in.</summary>
    public string Path { get; }

    /// <summary>The most peers kept.</summary>
    public int Capacity { get; }

    /// <inheritdoc/>
    public async ValueTask<BootstrapResult> ResolveAsync(BootstrapPurpose purpose, int maxEndpoints, CancellationToken cancellationToken)
    {
        await LoadOnceAsync(cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            return new BootstrapResult(_peers.Take(Math.Max(maxEndpoints, 0)).ToArray(), _loadProblem);
        }
    }

    /// <summary>Notes peers that answered, most recent first; the oldest fall out beyond <see cref="Capacity"/>.</summary>
    public void Remember(IEnumerable<IPEndPoint> peers)
    {
        ArgumentNullException.ThrowIfNull(peers);
        lock (_gate)
        {
            foreach (IPEndPoint peer in peers.Reverse())
            {
                _peers.Remove(peer);
                _peers.Insert(0, peer);
            }

            if (_peers.Count > Capacity)
            {
                _peers.RemoveRange(Capacity, _peers.Count - Capacity);
            }
        }
    }

    /// <summary>Writes the cache to <see cref="Path"/> (through a temporary file, so a crash never leaves half a file).</summary>
    public async Task SaveAsync(CancellationToken cancellationToken)
    {
        string text;
        lock (_gate)
        {
            text = string.Join('\n', _peers.Select(p => p.ToString())) + "\n";
        }

        string temporary = Path + ".tmp";
        await File.WriteAllTextAsync(temporary, text, Encoding.UTF8, cancellationToken).ConfigureAwait(false);
        File.Move(temporary, Path, overwrite: true);
    }

    /// <inheritdoc/>
    public ValueTask RegisterAsync(IReadOnlyList<IPEndPoint> ownEndpoints, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <inheritdoc/>
    public ValueTask UnregisterAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>Remembers <paramref name="peers"/> (<see cref="Remember"/>) and saves the file.</summary>
    public async ValueTask ReportPeersAsync(IReadOnlyList<IPEndPoint> peers, CancellationToken cancellationToken)
    {
        // Loaded first, so that the file's older peers are kept behind the new ones rather than overwritten.
        await LoadOnceAsync(cancellationToken).ConfigureAwait(false);
        Remember(peers);
        await SaveAsync(cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask LoadOnceAsync(CancellationToken cancellationToken)
    {
        if (_loaded)
        {
            return;
        }

        string[] lines = [];
        string? problem = null;
        try
        {
            lines = File.Exists(Path) ? await File.ReadAllLinesAsync(Path, cancellationToken).ConfigureAwait(false) : [];
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            problem = $"The peer cache {Path} could not be read ({error.Message}); starting without it.";
        }

        var loaded = new List<IPEndPoint>();
        int damaged = 0;
        foreach (string line in lines)
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (IPEndPoint.TryParse(line.Trim(), out IPEndPoint? peer) && peer.Port != 0)
            {
                loaded.Add(peer);
            }
            else
            {
                damaged++;
            }
        }

        problem ??= damaged > 0 ? $"{damaged} damaged line(s) in the peer cache {Path} were skipped." : null;
        lock (_gate)
        {
            // Peers remembered before the first resolve come first; the file's follow.
            foreach (IPEndPoint peer in loaded)
            {
                if (!_peers.Contains(peer) && _peers.Count < Capacity)
                {
                    _peers.Add(peer);
                }
            }

            _loadProblem = problem;
            _loaded = true;
        }
    }
}

/// <summary>
/// Tries providers in order and answers with the first that finds anything (e.g. the peer cache, then DNS); problems
/// of the providers tried on the way are reported together.
/// </summary>
public sealed class CompositeBootstrapProvider : IBootstrapProvider
{
    private readonly IBootstrapProvider[] _providers;

    /// <summary>Creates a provider over <paramref name="providers"/>, tried in this order.</summary>
    public CompositeBootstrapProvider(params IBootstrapProvider[] providers)
    {
        ArgumentNullException.ThrowIfNull(providers);
        if (providers.Length == 0 || Array.Exists(providers, p => p is null))
        {
            throw new DrtException(DrtError.InvalidArgument, "A composite bootstrap provider needs at least one provider, and none may be null.");
        }

        _providers = providers;
    }

    /// <inheritdoc/>
    public async ValueTask<BootstrapResult> ResolveAsync(BootstrapPurpose purpose, int maxEndpoints, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        foreach (IBootstrapProvider provider in _providers)
        {
            BootstrapResult result = await provider.ResolveAsync(purpose, maxEndpoints, cancellationToken).ConfigureAwait(false);
            if (result.Problem is not null)
            {
                problems.Add(result.Problem);
            }

            if (result.Endpoints.Count > 0)
            {
                return result with { Problem = problems.Count == 0 ? null : string.Join(" ", problems) };
            }
        }

        return BootstrapResult.Failed(problems.Count == 0 ? "No bootstrap provider found any endpoint." : string.Join(" ", problems));
    }

    /// <inheritdoc/>
    public async ValueTask RegisterAsync(IReadOnlyList<IPEndPoint> ownEndpoints, CancellationToken cancellationToken)
    {
        foreach (IBootstrapProvider provider in _providers)
        {
            await provider.RegisterAsync(ownEndpoints, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public async ValueTask UnregisterAsync(CancellationToken cancellationToken)
    {
        foreach (IBootstrapProvider provider in _providers)
        {
            await provider.UnregisterAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public async ValueTask ReportPeersAsync(IReadOnlyList<IPEndPoint> peers, CancellationToken cancellationToken)
    {
        foreach (IBootstrapProvider provider in _providers)
        {
            await provider.ReportPeersAsync(peers, cancellationToken).ConfigureAwait(false);
        }
    }
}
