using System.Net;
using Drt.Overlay.Routing;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Engine;

/// <summary>A routed message as a hook sees it. <see cref="Payload"/> is valid only during the call.</summary>
/// <param name="RouteId">The originator's id for the message, the same at every hop.</param>
/// <param name="Target">The key whose root the message is for.</param>
/// <param name="Origin">Where the originator receives (for an application's answer).</param>
/// <param name="Channel">The application's channel number.</param>
/// <param name="Hops">Overlay hops taken to reach this node.</param>
/// <param name="Payload">The application's bytes.</param>
internal readonly record struct RoutedMessage(ulong RouteId, Key256 Target, WireEndpoint Origin, ushort Channel, int Hops, ReadOnlyMemory<byte> Payload);

/// <summary>Called at the root of a message's target (Pastry's deliver).</summary>
/// <param name="message">The message; copy the payload to keep it.</param>
/// <param name="root">The local key closest to the target, which received it.</param>
internal delegate void RouteDeliverHandler(in RoutedMessage message, Key256 root);

/// <summary>
/// Called at every hop before a message goes on (Pastry's forward); return false to take the message here and stop
/// it (it is then neither forwarded nor delivered).
/// </summary>
/// <param name="message">The message; copy the payload to keep it.</param>
/// <param name="nextHop">The key it is about to be forwarded to.</param>
internal delegate bool RouteForwardHandler(in RoutedMessage message, Key256 nextHop);

/// <summary>How a routed message left the originator.</summary>
internal enum RouteResult
{
    /// <summary>Delivered at the root: this instance itself, or the first hop.</summary>
    Delivered,

    /// <summary>The first hop acknowledged it and took it on; the rest of the way is hop by hop.</summary>
    Forwarded,

    /// <summary>No next hop answered (or none was known); the message is lost.</summary>
    Failed,

    /// <summary>The message was refused at once: the payload is too large or too many messages are in flight.</summary>
    Refused,
}

/// <summary>
/// Recursive key-based routing (Pastry's route/deliver/forward): each hop acknowledges a <see cref="Route"/> and takes
/// responsibility for it, forwarding it to a strictly closer key — the routing-table cell for the next digit first
/// (nearest by RTT), numerically closest when the leaf set covers the target — until no known key is closer: that
/// node is the root and delivers. A hop whose next hop does not acknowledge in one RTO retransmits over an
/// alternative. Every forward strictly shrinks the distance to the target, so a message cannot loop; the TTL guards
/// anyway, and every node remembers the route ids it has seen, so retransmissions are delivered once.
/// </summary>
internal sealed partial class Engine
{
    private const int RecentRoutes = 1024;
    private const int ExtraRouteSends = 2;

    private RouteSlot?[]? _routeSlots;
    private readonly Stack<int> _freeRouteSlots = new();
    private readonly Dictionary<ulong, bool> _routeSeen = new(RecentRoutes);
    private readonly ulong[] _routeSeenRing = new ulong[RecentRoutes];
    private int _routeSeenNext;

    /// <summary>Called when this instance is the root of a routed message.</summary>
    public RouteDeliverHandler? DeliverHandler { get; set; }

    /// <summary>Called when this instance is about to forward a routed message; may stop it.</summary>
    public RouteForwardHandler? ForwardHandler { get; set; }

    /// <summary>
    /// Routes <paramref name="payload"/> to the root of <paramref name="target"/> (engine thread). A resolve-only
    /// instance hands it to the nearest node it knows. <paramref name="completed"/> hears how it left this instance;
    /// a refusal is also returned as false. Throws <see cref="DrtException"/> (<see cref="DrtError.Faulted"/>) once faulted.
    /// </summary>
    public bool Route(Key256 target, ushort channel, ReadOnlySpan<byte> payload, long now, Action<RouteResult>? completed = null)
    {
        ThrowIfFaulted();
        if (payload.Length > WireLimits.MaxRoutePayload || !TryTakeRouteSlot(out int index))
        {
            Counters.RoutesRefused++;
            completed?.Invoke(RouteResult.Refused);
            return false;
        }

        Counters.RoutesOriginated++;
        ulong routeId = NewRouteId();
        _routeSlots![index]!.Fill(routeId, target, Wire.Protocol.Route.DefaultTtl, hops: 0, _selfEndpoint, channel, payload, completed);
        SeeRoute(routeId, delivered: false);
        _ = ForwardOrDeliver(index, now);
        return true;
    }

    private void OnRoute(ReadOnlyMemory<byte> datagram, in WireHeader header, SocketAddress source, long now)
    {
        if (!TryDecode(datagram, header, out Route route))
        {
            return;
        }

        if (_keys.Count == 0)
        {
            Reply(new Error(ErrorCode.Unsupported, 0), header, datagram.Length, source); // resolve-only: routes for no one
            return;
        }

        if (_routeSeen.TryGetValue(route.RouteId, out bool deliveredBefore))
        {
            // A retransmission whose first copy we took (our ack was lost), or a copy over another path.
            Counters.RoutesDuplicate++;
            Reply(new RouteAck(deliveredBefore ? RouteAckStatus.Duplicate : RouteAckStatus.Accepted), header, datagram.Length, source);
            return;
        }

        if (route.Ttl == 0)
        {
            Counters.RoutesTtlExpired++;
            Reply(new RouteAck(RouteAckStatus.TtlExpired), header, datagram.Length, source);
            return;
        }

        if (!TryTakeRouteSlot(out int index))
        {
            Counters.RoutesBusy++;
            Reply(new RouteAck(RouteAckStatus.Busy), header, datagram.Length, source);
            return;
        }

        _routeSlots![index]!.Fill(route.RouteId, route.Target, (byte)(route.Ttl - 1), (byte)Math.Min(route.Hops + 1, byte.MaxValue), route.Origin, route.Channel, route.Payload.Span, completed: null);
        SeeRoute(route.RouteId, delivered: false);
        bool delivered = ForwardOrDeliver(index, now);
        Reply(new RouteAck(delivered ? RouteAckStatus.Delivered : RouteAckStatus.Accepted), header, datagram.Length, source);
    }

    /// <summary>
    /// Sends the message in slot <paramref name="index"/> to its best untried next hop, or delivers it here when no
    /// known key is closer — or when every closer one failed and the leaf set covers the target, so this is the
    /// closest live key. Returns true when it delivered here.
    /// </summary>
    private bool ForwardOrDeliver(int index, long now)
    {
        RouteSlot slot = _routeSlots![index]!;
        if (!TryNextHop(slot, out NodeRef next, out int attempt, out bool exhausted))
        {
            LocalKey? root = _keys.Count > 0 ? NearestLocal(slot.Target) : null;
            if (root is not null && (!exhausted || root.LeafSet.Covers(slot.Target)))
            {
                // The root-to-be waits until its neighbours route to it (consistent join), for two periods at most:
                // a key that never gets placed must not keep messages for ever. Maintenance looks again each round.
                if (root.Joining && (slot.HeldSince < 0 || now - slot.HeldSince < 2 * _options.MaintenancePeriodMicros))
                {
                    slot.HeldSince = slot.HeldSince < 0 ? now : slot.HeldSince;
                    _heldRoutes.Add(index);
                    return false;
                }

                DeliverHere(index, root);
                return true;
            }

            FailRoute(index); // a resolve-only instance that reached no one, or a hop far from the target cut off
            return false;
        }

        if (slot.Sends == 0 && ForwardHandler is { } forward
            && !forward(new RoutedMessage(slot.RouteId, slot.Target, slot.Origin, slot.Channel, slot.Hops, slot.PayloadMemory), next.Key))
        {
            Counters.RoutesStopped++;
            ReleaseRouteSlot(index);
            return false;
        }

        slot.Tried[slot.Sends++] = next.PeerId;
        var route = new Route(slot.RouteId, slot.Target, slot.Ttl, slot.Hops, slot.Origin, slot.Channel, slot.PayloadMemory);
        if (!SendRequest(route, next.PeerId, RequestKind.Route, index, attempt, NewMessageId(), now))
        {
            FailRoute(index); // the pending table is full or the transport refused: no retry storm
            return false;
        }

        Counters.RoutesForwarded++;
        if (slot.Sends > 1)
        {
            Counters.RouteRetransmits++;
        }

        return false;
    }

    private void DeliverHere(int index, LocalKey root)
    {
        RouteSlot slot = _routeSlots![index]!;
        Counters.RoutesDelivered++;
        SeeRoute(slot.RouteId, delivered: true);
        DeliverHandler?.Invoke(new RoutedMessage(slot.RouteId, slot.Target, slot.Origin, slot.Channel, slot.Hops, slot.PayloadMemory), root.Key);
        Action<RouteResult>? completed = slot.Completed;
        ReleaseRouteSlot(index);
        completed?.Invoke(RouteResult.Delivered);
    }

    private void FailRoute(int index)
    {
        Counters.RoutesFailed++;
        Action<RouteResult>? completed = _routeSlots![index]!.Completed;
        ReleaseRouteSlot(index);
        completed?.Invoke(RouteResult.Failed);
    }

    private void OnRouteAck(ReadOnlyMemory<byte> datagram, in WireHeader header, SocketAddress source, long now)
    {
        if (!TryDecode(datagram, header, out RouteAck ack) || !TryMatch(header, source, now, out PendingRequest request))
        {
            return;
        }

        if ((RequestKind)request.Kind != RequestKind.Route)
        {
            return;
        }

        switch (ack.Status)
        {
            case RouteAckStatus.Accepted:
            case RouteAckStatus.Delivered:
            case RouteAckStatus.Duplicate:
                RouteSlot slot = _routeSlots![request.Owner]!;
                Action<RouteResult>? completed = slot.Completed;
                ReleaseRouteSlot(request.Owner);
                completed?.Invoke(ack.Status == RouteAckStatus.Accepted ? RouteResult.Forwarded : RouteResult.Delivered);
                break;
            case RouteAckStatus.Busy:
                _ = ForwardOrDeliver(request.Owner, now); // an alternative, at once
                break;
            default:
                Counters.RoutesTtlExpired++;
                FailRoute(request.Owner);
                break;
        }
    }

    /// <summary>A next hop did not acknowledge in time, refused (busy, resolve-only), or could not be sent to.</summary>
    private void OnRouteTimeout(in PendingRequest request, long now) => _ = ForwardOrDeliver(request.Owner, now);

    /// <summary>
    /// The next hop for the message in <paramref name="slot"/>: the best candidate not yet tried, else (sends left) the
    /// best one again. A peer that missed its last <see cref="EngineOptions.MaxAttempts"/> answers to anything comes
    /// after those that answer, but is not skipped: a lossy link is not a dead node, and giving up on the root too
    /// early would deliver the message twice. False when no known node is closer to the target than this instance's
    /// nearest key, or when every send is spent (<paramref name="exhausted"/>).
    /// </summary>
    private bool TryNextHop(RouteSlot slot, out NodeRef next, out int attempt, out bool exhausted)
    {
        next = default;
        attempt = 0;
        exhausted = false;
        int n = RouteCandidates(slot.Target);
        if (n == 0)
        {
            return false;
        }

        if (slot.Sends >= Math.Min(_options.MaxAttempts + ExtraRouteSends, slot.Tried.Length))
        {
            exhausted = true;
            return false;
        }

        // The best candidate by rank: untried before tried, and among those, peers answering lately first.
        ReadOnlySpan<int> tried = slot.Tried.AsSpan(0, slot.Sends);
        int best = 0;
        int bestRank = int.MaxValue;
        for (int i = 0; i < n && bestRank > 0; i++)
        {
            int peerId = _scratchNodes[i].PeerId;
            bool silent = peerId == SelfPeerId || _peers[peerId].ConsecutiveTimeouts >= _options.MaxAttempts;
            int rank = (tried.Contains(peerId) ? 2 : 0) + (silent ? 1 : 0);
            if (rank < bestRank)
            {
                best = i;
                bestRank = rank;
            }
        }

        // A repeat waits a doubled timeout per earlier try to the same peer.
        next = _scratchNodes[best];
        foreach (int peerId in tried)
        {
            attempt += peerId == next.PeerId ? 1 : 0;
        }

        return true;
    }

    /// <summary>
    /// Fills <see cref="_scratchNodes"/> with the nodes closer to <paramref name="target"/> than this instance's nearest
    /// key, best first: the routing-table cell for the next digit (RTT order) unless the leaf set covers the target, in
    /// which case the numerically closest lead. A resolve-only instance offers the nodes it remembers, closest first.
    /// </summary>
    private int RouteCandidates(Key256 target)
    {
        int n = 0;
        if (_keys.Count == 0)
        {
            foreach (NodeRef node in _cache)
            {
                if (n < _scratchNodes.Length)
                {
                    _scratchNodes[n++] = node;
                }
            }

            SortByCloseness(_scratchNodes.AsSpan(0, n), target);
            return n;
        }

        LocalKey local = NearestLocal(target);
        bool covering = !local.LeafSet.IsEmpty && local.LeafSet.Covers(target);
        if (!covering)
        {
            foreach (RoutingEntry e in local.Routes.NextHops(target))
            {
                n = AddCloser(n, e.Node, local.Key, target);
            }
        }

        // Pastry's rare case, a scan of the whole table: only when the cell offers nothing closer. With the leaf set
        // covering the target it is not needed at all (the set holds every key of its arc).
        int sortFrom = n;
        if (!covering && n == 0 && local.Routes.FindCloser(target, out RoutingEntry closer))
        {
            n = AddCloser(n, closer.Node, local.Key, target);
        }

        foreach (NodeRef m in local.LeafSet.Smaller)
        {
            n = AddCloser(n, m, local.Key, target);
        }

        foreach (NodeRef m in local.LeafSet.Larger)
        {
            n = AddCloser(n, m, local.Key, target);
        }

        SortByCloseness(_scratchNodes.AsSpan(sortFrom, n - sortFrom), target);

        // Another key of this instance closer to the target is not a hop: NearestLocal already chose the closest.
        return n;
    }

    private bool TryTakeRouteSlot(out int index)
    {
        _routeSlots ??= new RouteSlot?[_options.MaxRoutesInFlight];
        if (_freeRouteSlots.TryPop(out index))
        {
            return true;
        }

        // Slots are made on first need (most nodes of a large simulation never route), then reused.
        for (int i = 0; i < _routeSlots.Length; i++)
        {
            if (_routeSlots[i] is null)
            {
                _routeSlots[i] = new RouteSlot(_options.MaxAttempts + ExtraRouteSends);
                index = i;
                return true;
            }
        }

        index = -1;
        return false;
    }

    /// <summary>Marks the peers every route slot has tried (released slots too: conservative, and cheap).</summary>
    private void MarkRoutes(Span<bool> marks)
    {
        foreach (RouteSlot? slot in _routeSlots ?? [])
        {
            if (slot is not null)
            {
                foreach (int peerId in slot.Tried.AsSpan(0, slot.Sends))
                {
                    Routing.PeerTable.Mark(marks, peerId);
                }
            }
        }
    }

    private void ReleaseRouteSlot(int index)
    {
        _routeSlots![index]!.Completed = null;
        _freeRouteSlots.Push(index);
    }

    /// <summary>Remembers a route id (bounded: the oldest is forgotten), or marks it delivered here.</summary>
    private void SeeRoute(ulong routeId, bool delivered)
    {
        if (_routeSeen.ContainsKey(routeId))
        {
            _routeSeen[routeId] |= delivered;
            return;
        }

        ulong oldest = _routeSeenRing[_routeSeenNext];
        if (oldest != 0)
        {
            _routeSeen.Remove(oldest);
        }

        _routeSeenRing[_routeSeenNext] = routeId;
        _routeSeenNext = (_routeSeenNext + 1) % RecentRoutes;
        _routeSeen[routeId] = delivered;
    }

    private ulong NewRouteId()
    {
        ulong id;
        do
        {
            id = (ulong)_random.NextInt64() ^ ((ulong)_random.Next() << 63);
        }
        while (id == 0 || _routeSeen.ContainsKey(id));

        return id;
    }

    /// <summary>One message this instance is responsible for until the next hop acknowledges it.</summary>
    private sealed class RouteSlot(int maxSends)
    {
        private readonly byte[] _payload = new byte[WireLimits.MaxRoutePayload];
        private int _length;

        public ulong RouteId { get; private set; }

        public Key256 Target { get; private set; }

        public byte Ttl { get; private set; }

        public byte Hops { get; private set; }

        public WireEndpoint Origin { get; private set; }

        public ushort Channel { get; private set; }

        public ReadOnlyMemory<byte> PayloadMemory => _payload.AsMemory(0, _length);

        /// <summary>The peers sent to so far, in order (a peer appears once per send).</summary>
        public int[] Tried { get; } = new int[maxSends];

        public int Sends { get; set; }

        /// <summary>When it started waiting for a joining root (−1: it has not).</summary>
        public long HeldSince { get; set; } = -1;

        /// <summary>The originator's callback; null at a forwarding hop.</summary>
        public Action<RouteResult>? Completed { get; set; }

        public void Fill(ulong routeId, Key256 target, byte ttl, byte hops, WireEndpoint origin, ushort channel, ReadOnlySpan<byte> payload, Action<RouteResult>? completed)
        {
            Completed = completed;
            RouteId = routeId;
            Target = target;
            Ttl = ttl;
            Hops = hops;
            Origin = origin;
            Channel = channel;
            payload.CopyTo(_payload);
            _length = payload.Length;
            Sends = 0;
            HeldSince = -1;
        }
    }
}
