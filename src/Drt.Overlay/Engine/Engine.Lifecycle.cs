using System.Net;
using Drt.Overlay.Routing;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Engine;

/// <summary>An instance's state, with DRT's meanings (DESIGN §1).</summary>
internal enum EngineStatus
{
    /// <summary>No live peer known: listening, and re-bootstrapping with backoff.</summary>
    Alone,

    /// <summary>Live peers known: keys are published and searches go out.</summary>
    Active,

    /// <summary>Nothing can be sent (no usable address or route); recovers by itself once a send or receive works.</summary>
    NoNetwork,

    /// <summary>Unrecoverable: the engine stopped processing after an internal error; only closing is left.</summary>
    Faulted,
}

/// <summary>A change of one local key's leaf set, as an application sees it (DRT's leaf-set key change event).</summary>
/// <param name="LocalKey">The local key whose leaf set changed.</param>
/// <param name="RemoteKey">The key that joined or left it.</param>
/// <param name="Added">True for a key that joined, false for one that left (revoked, dead, or pushed out by a nearer key).</param>
/// <param name="Endpoint">Where the remote key is registered; null for another key of this instance.</param>
internal readonly record struct LeafSetChange(Key256 LocalKey, Key256 RemoteKey, bool Added, IPEndPoint? Endpoint);

/// <summary>
/// The instance's lifecycle: its status and how it moves between Alone, Active, NoNetwork and Faulted; registering,
/// updating and unregistering keys; and the events an application hears about both.
/// </summary>
internal sealed partial class Engine
{
    /// <summary>Consecutive failed sends, with nothing received in between, that mean the network is gone.</summary>
    private const int NoNetworkAfterFailures = 16;

    private static readonly long s_firstBootstrapBackoffMicros = 1_000_000;
    private static readonly long s_maxBootstrapBackoffMicros = 60_000_000;

    private long _bootstrapBackoff;
    private long _nextBootstrap = long.MaxValue;
    private int _consecutiveSendFailures;
    private IReadOnlyList<IPEndPoint> _bootstrap = [];

    /// <summary>The instance's status (engine thread; other threads may read a slightly stale value).</summary>
    public EngineStatus Status { get; private set; } = EngineStatus.Alone;

    /// <summary>What faulted the engine, once <see cref="Status"/> is <see cref="EngineStatus.Faulted"/>.</summary>
    public Exception? FaultedBy { get; private set; }

    /// <summary>Called on the engine thread when the status changes: (old, new).</summary>
    public Action<EngineStatus, EngineStatus>? StatusChanged { get; set; }

    /// <summary>Called on the engine thread when a local key's leaf set gains or loses a key.</summary>
    public Action<LeafSetChange>? LeafSetChanged { get; set; }

    /// <summary>Where the engine (re)joins and checks for splits: <see cref="EngineOptions.Bootstrap"/> until replaced.</summary>
    public IReadOnlyList<IPEndPoint> Bootstrap => _bootstrap;

    /// <summary>
    /// Replaces the bootstrap endpoints (engine thread): a provider resolved them again. An instance with no peer joins
    /// through them at once.
    /// </summary>
    public void ReplaceBootstrap(IReadOnlyList<IPEndPoint> endpoints, long now)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ThrowIfFaulted();
        _bootstrap = [.. endpoints];
        if (Status == EngineStatus.Alone && _bootstrap.Count > 0)
        {
            Join(now);
        }
    }

    /// <summary>
    /// Endpoints of up to <paramref name="max"/> live peers, leaf-set members first (engine thread): known-good peers
    /// for a peer cache.
    /// </summary>
    public List<IPEndPoint> LivePeerEndpoints(int max)
    {
        var found = new List<IPEndPoint>();
        var seen = new HashSet<int>();
        foreach (LocalKey local in _keys)
        {
            AddPeers(local.LeafSet.Smaller);
            AddPeers(local.LeafSet.Larger);
        }

        foreach (NodeRef node in _cache)
        {
            AddPeers([node]);
        }

        return found;

        void AddPeers(ReadOnlySpan<NodeRef> nodes)
        {
            foreach (NodeRef node in nodes)
            {
                if (found.Count < max && node.PeerId != SelfPeerId && seen.Add(node.PeerId) && _peers[node.PeerId].Address is not null)
                {
                    found.Add(EndpointOf(node.PeerId).ToIPEndPoint());
                }
            }
        }
    }

    /// <summary>
    /// Registers <paramref name="key"/> here (engine thread). Published now when Active, else once Active. In a secure
    /// mode the key must be derived from this instance's identity under <paramref name="classifier"/> (UTF-8; empty
    /// when null), and its record is signed now.
    /// </summary>
    public LocalKey AddLocalKey(Key256 key, byte[] appData, long now, byte[]? classifier = null)
    {
        ThrowIfFaulted();
        foreach (LocalKey existing in _keys)
        {
            if (existing.Key == key)
            {
                throw new DrtException(DrtError.DuplicateKey, $"Key {key} is already registered by this instance; unregister it first or register another key.");
            }
        }

        classifier ??= [];
        CheckKeyAllowed(key, classifier);

        // A key registered into a ring (or towards one) joins consistently; the first key of a new ring is the ring.
        var local = new LocalKey(key, appData, _options.LeafSetSide, classifier) { Joining = _bootstrap.Count > 0 || HasLivePeers(), Sequence = FirstSequence(now) };
        SignLocal(local, now);
        local.LeafSet.Changed = (node, added) => OnLeafSetChanged(local, node, added);
        foreach (LocalKey other in _keys)
        {
            // The instance's own keys are ring members like any other: each appears in the other's tables.
            local.LeafSet.TryAdd(new NodeRef(other.Key, SelfPeerId));
            other.LeafSet.TryAdd(new NodeRef(key, SelfPeerId));
        }

        _keys.Add(local);
        _snapshotStale = true;
        if (Joined && !local.Joining)
        {
            local.Placed = true; // the first key of a new ring: there is no one to be placed among
        }
        else if (Status == EngineStatus.Active && Joined)
        {
            FindNeighbourhood(local, now); // published at once; otherwise the join (or the next round) places it
        }

        return local;
    }

    /// <summary>
    /// Replaces the data published with <paramref name="key"/> (engine thread): searchers see it from the next answer.
    /// In a secure mode the record is re-signed with the next sequence, which makes every older version stale.
    /// </summary>
    public void UpdateLocalKey(Key256 key, byte[] appData, long now)
    {
        ThrowIfFaulted();
        LocalKey local = FindLocal(key) ?? throw new DrtException(DrtError.InvalidArgument, $"Key {key} is not registered by this instance, so it cannot be updated; register it first.");
        local.AppData = appData;
        local.Sequence++;
        SignLocal(local, now);
    }

    /// <summary>
    /// Unregisters <paramref name="key"/> (engine thread): the owner's revocation goes to every member of its leaf set,
    /// who drop it and repair; from now on the instance answers that the key is not its own.
    /// </summary>
    public void RemoveLocalKey(Key256 key, long now)
    {
        ThrowIfFaulted();
        LocalKey local = FindLocal(key) ?? throw new DrtException(DrtError.InvalidArgument, $"Key {key} is not registered by this instance, so it cannot be unregistered.");
        _keys.Remove(local);
        _snapshotStale = true;
        local.LeafSet.Changed = null;
        if (local.Placed || local.Placing)
        {
            // Secure modes: the flood carries the owner's signed revocation, the only thing peers act on.
            FloodLeafSet(local, FloodFlags.NoAck | FloodFlags.Revoke, new RouteEntry(key, _selfEndpoint), default, Revocation(local, now));
        }

        foreach (LocalKey other in _keys)
        {
            other.LeafSet.Remove(key);
            other.Routes.Remove(key);
        }

        _cache.RemoveAll(n => n.Key == key);
        ReleaseHeldRoutes(now); // messages waiting for it go to whoever is root now
        UpdateStatus(now);
    }

    /// <summary>Moves the status to what the tables say; called after every input.</summary>
    private void UpdateStatus(long now)
    {
        if (Status == EngineStatus.Faulted)
        {
            return;
        }

        EngineStatus next = _consecutiveSendFailures >= NoNetworkAfterFailures ? EngineStatus.NoNetwork
            : HasLivePeers() ? EngineStatus.Active
            : EngineStatus.Alone;
        if (next == Status)
        {
            return;
        }

        EngineStatus old = Status;
        Status = next;
        if (next == EngineStatus.Alone && _bootstrap.Count > 0 && Joined)
        {
            // Every peer is gone: find the network again, soon and then less and less often.
            Joined = false;
            _bootstrapBackoff = 0;
            _nextBootstrap = now;
        }

        StatusChanged?.Invoke(old, next);
    }

    /// <summary>True when some remote key is in a leaf set (or, resolve-only, when some node is known).</summary>
    private bool HasLivePeers()
    {
        if (_keys.Count == 0)
        {
            return _cache.Count > 0;
        }

        foreach (LocalKey local in _keys)
        {
            if (HasRemoteMember(local.LeafSet))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>True when a key of another instance is in <paramref name="leafSet"/>.</summary>
    private static bool HasRemoteMember(LeafSet leafSet)
    {
        foreach (NodeRef n in leafSet.Larger)
        {
            if (n.PeerId != SelfPeerId)
            {
                return true;
            }
        }

        foreach (NodeRef n in leafSet.Smaller)
        {
            if (n.PeerId != SelfPeerId)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Solicits the bootstrap endpoints again when due while not joined; returns when to next. The delay doubles from
    /// one second to a minute (±10%), so a node started before its bootstrap node finds it soon without flooding it.
    /// </summary>
    private long Rebootstrap(long now)
    {
        if (Joined || _bootstrap.Count == 0)
        {
            return long.MaxValue;
        }

        if (now >= _nextBootstrap)
        {
            for (int i = 0; i < _bootstrap.Count; i++)
            {
                Solicit(i, now);
            }

            _bootstrapBackoff = Math.Clamp(_bootstrapBackoff * 2, s_firstBootstrapBackoffMicros, s_maxBootstrapBackoffMicros);
            _nextBootstrap = now + Jittered(_bootstrapBackoff);
        }

        return _nextBootstrap;
    }

    private void OnSendResult(bool sent) => _consecutiveSendFailures = sent ? 0 : _consecutiveSendFailures + 1;

    private void OnLeafSetChanged(LocalKey local, NodeRef node, bool added)
    {
        _snapshotStale = true;
        if (LeafSetChanged is not { } handler)
        {
            return;
        }

        IPEndPoint? endpoint = node.PeerId == SelfPeerId || _peers[node.PeerId].Address is not { } address
            ? null
            : (IPEndPoint)new IPEndPoint(address.Family == System.Net.Sockets.AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0).Create(address);
        handler(new LeafSetChange(local.Key, node.Key, added, endpoint));
    }

    /// <summary>
    /// An internal error escaped a handler: the engine stops processing (its state may be inconsistent), says so once,
    /// and from then on every call fails with <see cref="DrtError.Faulted"/>.
    /// </summary>
    private void Fault(Exception error)
    {
        if (Status == EngineStatus.Faulted)
        {
            return;
        }

        FaultedBy = error;
        EngineStatus old = Status;
        Status = EngineStatus.Faulted;
        _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        StatusChanged?.Invoke(old, EngineStatus.Faulted);
    }

    private void ThrowIfFaulted()
    {
        if (Status == EngineStatus.Faulted)
        {
            throw new DrtException(DrtError.Faulted, $"The instance faulted ({FaultedBy?.Message}) and can only be closed.");
        }
    }
}
