using Drt.Overlay.Routing;
using Drt.Overlay.Wire;

namespace Drt.Overlay.Engine;

/// <summary>
/// Forgetting peers (the peer table is bounded by <see cref="EngineOptions.MaxPeers"/>): an address no table, request,
/// search, route, verification or session refers to, and that nobody has looked up for
/// <see cref="PeerIdleMicros"/>, is dropped from the table, so a long-lived node that meets more addresses than the cap
/// (churn over days), or a flood of spoofed announcements that each made an entry, never leaves it unable to add the
/// peers it needs.
/// </summary>
/// <remarks>
/// Every structure that keeps a peer id beyond one input is marked before anything is removed, so a removed id is
/// referred to nowhere when the table hands it out again; the idle time covers the short-lived scratch that is not
/// marked (a route's tried list, split-check seeds, recent-flood ids), all of which lives for seconds. The collection
/// runs when the table is more than half full, once per maintenance period, and when an add fails (at most once a
/// second), and costs one pass over the tables.
/// </remarks>
internal sealed partial class Engine
{
    /// <summary>How long a peer nobody refers to stays known after its last look-up: 60 s.</summary>
    internal const long PeerIdleMicros = 60_000_000;

    private const long CollectIntervalMicros = 1_000_000;

    private bool[] _peerMarks = [];
    private long _lastPeerCollect = -CollectIntervalMicros;

    /// <summary>Peers forgotten so far (engine thread; tests and metrics).</summary>
    public long PeersCollected { get; private set; }

    /// <summary>
    /// Forgets the peers nothing refers to and nobody looked up for <see cref="PeerIdleMicros"/>; returns how many.
    /// Runs only when the table is at least half full, or when <paramref name="force"/> (an add just failed).
    /// </summary>
    private int CollectPeers(long now, bool force = false)
    {
        if ((!force && _peers.Count * 2 < _peers.Capacity) || now - _lastPeerCollect < CollectIntervalMicros)
        {
            return 0;
        }

        _lastPeerCollect = now;
        if (_peerMarks.Length < _peers.Capacity)
        {
            _peerMarks = new bool[_peers.Capacity];
        }

        Span<bool> marks = _peerMarks;
        marks.Clear();
        foreach (LocalKey local in _keys)
        {
            MarkAll(marks, local.LeafSet.Smaller);
            MarkAll(marks, local.LeafSet.Larger);
            int routes = local.Routes.CopyTo(_scratchRoutes);
            for (int i = 0; i < routes; i++)
            {
                PeerTable.Mark(marks, _scratchRoutes[i].Node.PeerId);
            }
        }

        foreach (NodeRef node in _cache)
        {
            PeerTable.Mark(marks, node.PeerId);
        }

        foreach (SearchOperation? op in _searchSlots)
        {
            if (op is null)
            {
                continue;
            }

            op.Lookup.MarkPeers(marks);
            foreach (NodeRef node in op.InFlight.Values)
            {
                PeerTable.Mark(marks, node.PeerId);
            }

            MarkAll(marks, op.Results);
        }

        _pending.MarkPeers(marks);
        foreach (Verification v in _verifications)
        {
            if (v.InUse)
            {
                PeerTable.Mark(marks, v.PeerId);
            }
        }

        MarkAll(marks, _splitSeeds.AsSpan(0, _splitSeedCount));
        MarkRoutes(marks);
        MarkSessions(marks);

        int removed = _peers.Collect(marks, now - PeerIdleMicros);

        if (removed > 0)
        {
            // The recent-flood filter names peers by id: forget what it said of ids that may now be handed out again.
            for (int i = 0; i < _recentFloods.Length; i++)
            {
                if (!_peers.Contains(_recentFloods[i].PeerId))
                {
                    _recentFloods[i] = (Key256.Zero, int.MinValue);
                }
            }
        }

        PeersCollected += removed;
        return removed;
    }

    /// <summary>An add failed because the table is full: collect now (at most once a second) and try once more.</summary>
    private bool TryAddAfterCollect(System.Net.SocketAddress address, out int peerId)
    {
        peerId = -1;
        return CollectPeers(_inputNow, force: true) > 0 && _peers.TryGetOrAdd(address, out peerId, out _);
    }

    private static void MarkAll(Span<bool> marks, ReadOnlySpan<NodeRef> nodes)
    {
        foreach (NodeRef node in nodes)
        {
            PeerTable.Mark(marks, node.PeerId);
        }
    }
}
