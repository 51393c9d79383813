using System.Net;
using System.Security.Cryptography;
using Drt.Overlay.Routing;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Engine;

/// <summary>
/// Membership: how entries get into the leaf sets and routing tables and how they leave. Nothing learned from the
/// network is admitted on someone's word: a candidate (key, address) is <em>verified</em> first — an inquire with a
/// fresh nonce, answered from that address by the owner of that key — which proves return routability and liveness
/// at once. The same check, failing, is how a member is declared dead; so a dead node cannot be re-admitted by a
/// neighbour's stale leaf set.
/// </summary>
/// <remarks>
/// Maintenance is periodic, not reactive (MC-DRT §3.2.6): every <see cref="EngineOptions.MaintenancePeriod"/> each
/// local key asks its nearest neighbour on each side for its leaf set. Members the neighbour should list but does not
/// are re-verified; new ones are verified and admitted. With the replies to others' requests that is about four
/// datagrams per key per period in a stable network.
/// </remarks>
internal sealed partial class Engine
{
    private const int MaxVerifications = 128;
    private const int JoinNonceLength = 16;
    private const int RecentSolicits = 64;
    private const int AdvertiseKeys = 8;
    private const int RecentFloods = 64;

    /// <summary>Maintenance rounds between split checks (about two minutes at the default period).</summary>
    private const int SplitCheckRounds = 10;

    /// <summary>Follow-up exchanges after a member leaves a leaf set, a sixth of a period apart.</summary>
    private const int RepairRounds = 3;

    /// <summary>Every this many rounds one more leaf-set member is verified, in turn (the far ones too).</summary>
    private const int MemberCheckRounds = 4;

    private readonly Verification[] _verifications = new Verification[MaxVerifications];
    private readonly byte[] _verifyNonces = new byte[MaxVerifications * WireLimits.NonceLength];
    private readonly byte[] _recentSolicits = new byte[RecentSolicits * WireLimits.NonceHashLength];
    private readonly RouteEntry?[] _recentSolicitSenders = new RouteEntry?[RecentSolicits];
    private readonly WireKey[] _advertised = new WireKey[AdvertiseKeys];
    private readonly RouteEntry[] _leftEntries = new RouteEntry[LeafSet.MaxSideCapacity];
    private readonly RouteEntry[] _rightEntries = new RouteEntry[LeafSet.MaxSideCapacity];
    private readonly WireEndpoint[] _flooded = new WireEndpoint[WireLimits.MaxPath];
    private readonly (Key256 Key, int PeerId)[] _recentFloods = Enumerable.Repeat((Key256.Zero, int.MinValue), RecentFloods).ToArray();
    private int _recentFloodNext;
    private readonly byte[] _joinNonce = new byte[JoinNonceLength];
    private int _recentSolicitNext;
    private bool _neighbourhoodPending;
    private readonly NodeRef[] _splitSeeds = new NodeRef[AdvertiseKeys];
    private int _splitSeedCount;
    private SplitCheckState _splitCheck;
    private int _maintenanceRound;
    private long _nextMaintenance = long.MinValue;
    private int _probeCursor;
    private long _nextRepair = long.MaxValue;

    /// <summary>Whether this instance has joined through its bootstrap endpoints (or needs none).</summary>
    public bool Joined { get; private set; }

    /// <summary>
    /// Starts joining the ring through <see cref="Bootstrap"/> (engine thread): the solicit handshake,
    /// then a search for each local key's neighbourhood. Maintenance retries while nothing has answered.
    /// </summary>
    public void Join(long now)
    {
        if (_bootstrap.Count == 0)
        {
            // Nothing to join through: this instance starts the ring (or waits to be found), and its keys are placed.
            Joined = true;
            foreach (LocalKey local in _keys)
            {
                local.Placed = true;
            }

            return;
        }

        // Solicits every bootstrap endpoint now, then again with backoff until one answers.
        Joined = false;
        _bootstrapBackoff = 0;
        _nextBootstrap = now;
        _ = Rebootstrap(now);
    }

    /// <summary>Starts the handshake with bootstrap endpoint <paramref name="index"/> (the join, or a split check).</summary>
    private void Solicit(int index, long now)
    {
        if (!TryPeerOf(WireEndpoint.FromIPEndPoint(_bootstrap[index]), out int peerId) || peerId == SelfPeerId)
        {
            return;
        }

        FillNonce(_joinNonce);
        Span<byte> hash = stackalloc byte[WireLimits.NonceHashLength];
        SHA256.HashData(_joinNonce, hash);
        RouteEntry? sender = _keys.Count > 0 ? new RouteEntry(_keys[0].Key, _selfEndpoint) : null;

        // Padding pays in advance for the advertise: the answer is never larger than the solicit.
        var solicit = new Solicit(hash.ToArray(), sender, SolicitPadding);
        SendRequest(solicit, peerId, RequestKind.Solicit, owner: index, attempt: 0, NewMessageId(), now, maintenance: true);
    }

    /// <summary>Padding that makes a solicit as large as the largest advertise we answer it with.</summary>
    private const int SolicitPadding = (AdvertiseKeys * (Key256.Size + 2)) + 8;

    // ------------------------------------------------------------------ join handshake (known node's side)

    private void OnSolicit(ReadOnlyMemory<byte> datagram, in WireHeader header, SocketAddress source)
    {
        if (!TryDecode(datagram, header, out Solicit solicit))
        {
            return;
        }

        // No state for the joiner, only its commitment, in a small ring: the request must reveal a nonce that hashes
        // to one of the recent commitments.
        solicit.NonceHash.Span.CopyTo(_recentSolicits.AsSpan(_recentSolicitNext * WireLimits.NonceHashLength, WireLimits.NonceHashLength));
        _recentSolicitSenders[_recentSolicitNext] = solicit.Sender;
        _recentSolicitNext = (_recentSolicitNext + 1) % RecentSolicits;

        // Keys spread over what we know, cut to what the solicit paid for (no amplification).
        int fit = Math.Clamp((datagram.Length - WireHeader.Size - 40) / (Key256.Size + 2), 0, AdvertiseKeys);
        int count = SpreadKeys(_advertised.AsSpan(0, fit));
        Reply(new Advertise(solicit.NonceHash, new WireList<WireKey>(_advertised.AsMemory(0, count))), header, datagram.Length, source);
    }

    private void OnRequest(ReadOnlyMemory<byte> datagram, in WireHeader header, SocketAddress source)
    {
        if (!TryDecode(datagram, header, out Request request))
        {
            return;
        }

        Span<byte> hash = stackalloc byte[WireLimits.NonceHashLength];
        SHA256.HashData(request.Nonce.Span, hash);
        int committed = -1;
        for (int i = 0; i < RecentSolicits && committed < 0; i++)
        {
            committed = _recentSolicits.AsSpan(i * WireLimits.NonceHashLength, WireLimits.NonceHashLength).SequenceEqual(hash) ? i : -1;
        }

        if (committed < 0)
        {
            return; // dropped silently: no oracle
        }

        // A joiner that named its key, at the address it sends from, is worth knowing: kept for the next joiner's
        // advertise (a resolve-only bootstrap node knows the ring only this way). It is only a hint: whoever is told of
        // it verifies it (an inquire with a fresh nonce) before it enters a table, and leaf sets learn of it as they
        // always do, from its own placement. Once: the commitment's sender is forgotten.
        if (_recentSolicitSenders[committed] is { } sender)
        {
            _recentSolicitSenders[committed] = null;
            if (sender.Endpoint.Equals(SourceEndpoint(source)) && TryPeerOf(sender.Endpoint, out int joiner) && joiner != SelfPeerId)
            {
                Remember(new NodeRef(sender.Key, joiner));
            }
        }

        // Entries first, then the ack that ends the joiner's handshake. The nonce was the joiner's own, so it proves
        // nothing about its address: to an address not yet proven the answers together stay within the request's
        // size (the joiner pads its request for the entries it wants).
        bool routable = IsRoutable(source);
        int budget = datagram.Length - AckSize;
        foreach (WireKey wanted in request.Keys)
        {
            if (TryEntryOf(wanted.Key, out RouteEntry entry))
            {
                var flood = new Flood(FloodFlags.NoAck, wanted.Key, entry, null, default);
                if (!routable)
                {
                    int size = EncodedSize(flood);
                    if (size > budget)
                    {
                        Counters.AmplificationLimited++;
                        continue;
                    }

                    budget -= size;
                }

                Send(flood, NewMessageId(), source, maintenance: true);
            }
        }

        Reply(new Ack(AckFlags.None), header, datagram.Length, source);
    }

    // ------------------------------------------------------------------ join handshake (joiner's side)

    private void OnAdvertise(ReadOnlyMemory<byte> datagram, in WireHeader header, SocketAddress source, long now)
    {
        if (!TryDecode(datagram, header, out Advertise advertise) || !TryMatch(header, source, now, out PendingRequest pending))
        {
            return;
        }

        int count = 0;
        foreach (WireKey key in advertise.Keys)
        {
            _advertised[count++] = key;
        }

        var request = new Request(_joinNonce, new WireList<WireKey>(_advertised.AsMemory(0, count)));
        SendRequest(request, pending.PeerId, RequestKind.JoinRequest, pending.Owner, attempt: 0, NewMessageId(), now, maintenance: true, padTo: AckSize + (count * JoinFloodMaxSize));
    }

    private void OnAck(ReadOnlyMemory<byte> datagram, in WireHeader header, SocketAddress source, long now)
    {
        if (!TryDecode(datagram, header, out Ack _) || !TryMatch(header, source, now, out PendingRequest pending)
            || (RequestKind)pending.Kind != RequestKind.JoinRequest)
        {
            return;
        }

        if (Joined)
        {
            // A split check's handshake: search from the bootstrap node's entries once they are here.
            if (_splitCheck == SplitCheckState.Handshake)
            {
                _splitCheck = SplitCheckState.AwaitingEntries;
                CheckSplitFromBootstrapEntries(now);
            }

            return;
        }

        // The bootstrap node sent its entries just before this ack, as floods; they seed the neighbourhood searches.
        // The network may reorder them behind the ack: then the searches start with the first entry that arrives.
        Joined = true;
        if (_cache.Count == 0)
        {
            _neighbourhoodPending = true;
            return;
        }

        FindNeighbourhoods(now);
    }

    private void FindNeighbourhoods(long now)
    {
        _neighbourhoodPending = false;
        foreach (LocalKey local in _keys)
        {
            FindNeighbourhood(local, now);
        }
    }

    /// <summary>
    /// Searches for the keys nearest <paramref name="local"/>'s key (a registration search) and verifies everything it
    /// meets into the tables; then announces the key to its new leaf set.
    /// </summary>
    private void FindNeighbourhood(LocalKey local, long now)
    {
        if (local.Placing)
        {
            return;
        }

        var request = new SearchRequest(local.Key, LookupKind.Nearest, Key256.Zero, Key256.MaxValue, WireLimits.MaxReplyEntries, AllowLocal: false);
        local.Placing = StartSearch(request, (outcome, at) => OnNeighbourhood(local, outcome, at), now);
    }

    private void OnNeighbourhood(LocalKey local, SearchOutcome outcome, long now)
    {
        local.Placing = false;
        if (!_keys.Contains(local))
        {
            return; // unregistered while the search ran
        }

        // Confirmed results answered an inquire with our nonce: admit them outright.
        foreach (SearchResultData result in outcome.Results)
        {
            if (TryPeerOf(WireEndpoint.FromIPEndPoint(result.Endpoint), out int peerId) && peerId != SelfPeerId)
            {
                AdmitPeer(result.Key, peerId, tell: false);
            }
        }

        // Every hop that answered is alive at its address; verify its key before it enters a table.
        foreach (LookupHop hop in outcome.Path)
        {
            if (hop.Outcome == HopOutcome.Accepted)
            {
                Learn(hop.Node.Key, hop.Node.PeerId, now);
            }
        }

        // Placed once a neighbour is in the leaf set; a search whose answers were all lost is repeated by the next
        // maintenance round (a key placed among no one would start a ring of its own).
        local.Placed = HasRemoteMember(local.LeafSet);
        Announce(local);
        MaintainLeafSet(local, now);
        if (local.Placed)
        {
            BeginConfirming(local, now);
            FillOnJoin(local, now);
        }
    }

    /// <summary>Tells every member of <paramref name="local"/>'s leaf set that the key is here (a flood, no ack).</summary>
    private void Announce(LocalKey local)
    {
        _flooded[0] = _selfEndpoint;
        FloodLeafSet(local, FloodFlags.NoAck, new RouteEntry(local.Key, _selfEndpoint), new WireList<WireEndpoint>(_flooded.AsMemory(0, 1)));
    }

    /// <summary>Sends one flood of <paramref name="entry"/> to every remote member of <paramref name="local"/>'s leaf set.</summary>
    private void FloodLeafSet(LocalKey local, FloodFlags flags, in RouteEntry entry, in WireList<WireEndpoint> already, in SignedRecord? record = null)
    {
        foreach (NodeRef member in local.LeafSet.Smaller)
        {
            SendFlood(member, flags, entry, already, record);
        }

        foreach (NodeRef member in local.LeafSet.Larger)
        {
            SendFlood(member, flags, entry, already, record);
        }
    }

    private void SendFlood(NodeRef to, FloodFlags flags, in RouteEntry entry, in WireList<WireEndpoint> already, in SignedRecord? record = null)
    {
        if (to.PeerId != SelfPeerId)
        {
            Send(new Flood(flags, to.Key, entry, record, already), NewMessageId(), _peers[to.PeerId].Address, maintenance: true);
        }
    }

    private void OnFlood(ReadOnlyMemory<byte> datagram, in WireHeader header, SocketAddress source, long now)
    {
        if (!TryDecode(datagram, header, out Flood flood))
        {
            return;
        }

        // From an address that has not proved return routability only a flood about itself counts (a joiner's
        // announcement): anything else would make us keep state for, and send inquiries to, a third party.
        if (!IsRoutable(source) && !flood.Entry.Endpoint.Equals(SourceEndpoint(source)))
        {
            Counters.Unsolicited++;
            return;
        }

        if (!TryPeerOf(flood.Entry.Endpoint, out int peerId) || peerId == SelfPeerId)
        {
            return;
        }

        if ((flood.Flags & FloodFlags.Revoke) != 0)
        {
            // Secure modes: a revocation counts only as the owner's signed record (a higher sequence with the Revoked
            // flag, verified through the cache), whoever relays it; a record that fails is dropped and the key stays.
            if (_secure && flood.Record is { } revocation)
            {
                if (IsValidRevocation(revocation, flood.Entry.Key, now))
                {
                    RemoveKey(flood.Entry.Key, now);
                }

                return;
            }

            // Security mode None: only the key's own node may revoke it, from its own address. From anyone else (and
            // in a secure mode, an unsigned revoke from anyone) a revoke is a suspicion: a member we hold is checked
            // again, once per wave, and removed only if it fails.
            bool fromOwner = _peers.TryGet(source, out int from) && from == peerId;
            if (fromOwner && _secure)
            {
                RecordCounters.RevocationsRejected++;
            }

            if (fromOwner && !_secure)
            {
                RemoveKey(flood.Entry.Key, now);
            }
            else if (IsMember(flood.Entry.Key, peerId) && FirstSightOfFlood(flood.Entry.Key, ~peerId))
            {
                Verify(flood.Entry.Key, peerId, now, hinted: true);
            }

            return;
        }

        // An owner telling one of our keys about itself, from its own address, has just taken that key into its leaf
        // set (the admit push): a confirmation for a joining key.
        if (flood.AlreadyFlooded.Count == 0 && _peers.TryGet(source, out int sender) && sender == peerId && FindLocal(flood.ValidateKey) is { Joining: true } joining)
        {
            HeardFrom(joining, flood.Entry.Key, now);
        }

        // A candidate that would enter a table is verified; nothing is taken on the flooder's word. The cache only
        // seeds searches, which verify their results themselves.
        Remember(new NodeRef(flood.Entry.Key, peerId));
        _ = Learn(flood.Entry.Key, peerId, now);
        if (_neighbourhoodPending)
        {
            FindNeighbourhoods(now);
        }

        if (_splitCheck != SplitCheckState.Idle && flood.AlreadyFlooded.Count == 0 && _splitSeedCount < _splitSeeds.Length)
        {
            // An entry answering our handshake request (those carry no already-flooded list).
            _splitSeeds[_splitSeedCount++] = new NodeRef(flood.Entry.Key, peerId);
            if (_splitCheck == SplitCheckState.AwaitingEntries)
            {
                CheckSplitFromBootstrapEntries(now);
            }
        }

        // Pass the wave on once, and only while the key still falls into one of our leaf sets: then the nodes beyond
        // us on the far side may hold it in theirs too. Each node forwards a given key at most once per wave (the
        // recent-flood ring), so a wave costs about one datagram per leaf-set slot it fills.
        if (flood.AlreadyFlooded.Count == 0 || flood.AlreadyFlooded.Count >= WireLimits.MaxPath || !FirstSightOfFlood(flood.Entry.Key, peerId))
        {
            return;
        }

        int n = flood.AlreadyFlooded.CopyTo(_flooded);
        _flooded[n++] = _selfEndpoint;
        var already = new WireList<WireEndpoint>(_flooded.AsMemory(0, n));
        foreach (LocalKey local in _keys)
        {
            if (!local.LeafSet.WouldAdd(flood.Entry.Key) && !local.LeafSet.Contains(flood.Entry.Key))
            {
                continue;
            }

            // Onwards, away from the new key: the nodes beyond us that may still hold it within their leaf sets.
            ReadOnlySpan<NodeRef> side = Key256.ClockwiseDistance(local.Key, flood.Entry.Key) < Key256.ClockwiseDistance(flood.Entry.Key, local.Key)
                ? local.LeafSet.Smaller
                : local.LeafSet.Larger;
            foreach (NodeRef member in side)
            {
                if (member.PeerId != SelfPeerId && member.PeerId != peerId && !Listed(_flooded.AsSpan(0, n), EndpointOf(member.PeerId)))
                {
                    SendFlood(member, FloodFlags.NoAck, flood.Entry, already);
                }
            }
        }
    }

    /// <summary>
    /// True the first time a flood for (key, peer) is seen among the last <see cref="RecentFloods"/>; records it.
    /// Suspicion waves are recorded under the complement of the peer id, apart from announcements.
    /// </summary>
    private bool FirstSightOfFlood(Key256 key, int peerId)
    {
        foreach ((Key256 Key, int PeerId) seen in _recentFloods)
        {
            if (seen.PeerId == peerId && seen.Key == key)
            {
                return false;
            }
        }

        _recentFloods[_recentFloodNext] = (key, peerId);
        _recentFloodNext = (_recentFloodNext + 1) % RecentFloods;
        return true;
    }

    // ------------------------------------------------------------------ leaf-set exchange

    /// <summary>One maintenance round for <paramref name="local"/>: ask both nearest neighbours for their leaf sets.</summary>
    private void MaintainLeafSet(LocalKey local, long now)
    {
        int owner = _keys.IndexOf(local);
        var request = new LeafSetRequest(Key256.Zero, new RouteEntry(local.Key, _selfEndpoint));
        if (local.LeafSet.Smaller.Length > 0 && local.LeafSet.Smaller[0] is { PeerId: not SelfPeerId } left)
        {
            SendRequest(request with { ValidateKey = left.Key }, left.PeerId, RequestKind.LeafSet, owner, 0, NewMessageId(), now, maintenance: true, padTo: LeafSetPadding(local));
        }

        if (local.LeafSet.Larger.Length > 0 && local.LeafSet.Larger[0] is { PeerId: not SelfPeerId } right && right.PeerId != (local.LeafSet.Smaller.Length > 0 ? local.LeafSet.Smaller[0].PeerId : int.MinValue))
        {
            SendRequest(request with { ValidateKey = right.Key }, right.PeerId, RequestKind.LeafSet, owner, 0, NewMessageId(), now, maintenance: true, padTo: LeafSetPadding(local));
        }
    }

    /// <summary>
    /// A member left <paramref name="local"/>'s leaf set: ask the nearest neighbours for the key that fills the gap now,
    /// and again a few times shortly after — they may be repairing the same loss themselves — rather than wait for
    /// the next period.
    /// </summary>
    private void Repair(LocalKey local, long now)
    {
        MaintainLeafSet(local, now);
        local.RepairRounds = RepairRounds;
        _nextRepair = Math.Min(_nextRepair, now + RepairInterval);
    }

    /// <summary>Runs the follow-up repair exchanges when due; returns when the next is due.</summary>
    private long RepairLeafSets(long now)
    {
        if (now < _nextRepair)
        {
            return _nextRepair;
        }

        _nextRepair = long.MaxValue;
        foreach (LocalKey local in _keys)
        {
            if (local.RepairRounds > 0)
            {
                local.RepairRounds--;
                MaintainLeafSet(local, now);
                _nextRepair = local.RepairRounds > 0 ? Math.Min(_nextRepair, now + RepairInterval) : _nextRepair;
            }
        }

        return _nextRepair;
    }

    private long RepairInterval => _options.MaintenancePeriodMicros / 6;

    /// <summary>
    /// Transmissions of a check before its peer is declared dead: one more than a search hop gets, since a wrong death
    /// under loss empties a leaf-set place (and makes a neighbour root of a range not its own) until repair.
    /// </summary>
    private int DeathAttempts => _options.MaxAttempts + 1;

    private void RetryLeafSet(in PendingRequest request, long now)
    {
        if ((uint)request.Owner >= (uint)_keys.Count)
        {
            return;
        }

        LocalKey local = _keys[request.Owner];
        if (TryFindPeer(local.LeafSet.Smaller, request.PeerId, out Key256 key) || TryFindPeer(local.LeafSet.Larger, request.PeerId, out key))
        {
            var retry = new LeafSetRequest(key, new RouteEntry(local.Key, _selfEndpoint));
            SendRequest(retry, request.PeerId, RequestKind.LeafSet, request.Owner, request.Attempt + 1, request.MessageId, now, maintenance: true, padTo: LeafSetPadding(local));
        }
    }

    private void OnLeafSetRequest(ReadOnlyMemory<byte> datagram, in WireHeader header, SocketAddress source, long now)
    {
        if (!TryDecode(datagram, header, out LeafSetRequest request))
        {
            return;
        }

        LocalKey? local = FindLocal(request.ValidateKey);
        if (local is null)
        {
            Reply(new LeafSetReply(LeafSetReplyFlags.NotMine, request.ValidateKey, default, default), header, datagram.Length, source, maintenance: true);
            return;
        }

        // The asker is a neighbour we may have lost (or never had): verify it back in.
        if (request.Sender is { } sender && sender.Endpoint.Equals(SourceEndpoint(source)) && TryPeerOf(sender.Endpoint, out int senderPeer))
        {
            Learn(sender.Key, senderPeer, now);
        }

        int left = Entries(local.LeafSet.Smaller, _leftEntries);
        int right = Entries(local.LeafSet.Larger, _rightEntries);
        ReplyLeafSet(Joined ? LeafSetReplyFlags.None : LeafSetReplyFlags.Joining, local.Key, left, right, header, datagram.Length, source);
    }

    private void OnLeafSetReply(ReadOnlyMemory<byte> datagram, in WireHeader header, SocketAddress source, long now)
    {
        if (!TryDecode(datagram, header, out LeafSetReply reply) || !TryMatch(header, source, now, out PendingRequest pending))
        {
            return;
        }

        if ((reply.Flags & LeafSetReplyFlags.NotMine) != 0)
        {
            RemoveKey(reply.Key, now); // the neighbour's key is gone; the node may still hold others
            return;
        }

        if ((uint)pending.Owner < (uint)_keys.Count && _keys[pending.Owner] is { Joining: true } joining
            && (Lists(reply.Left, joining.Key) || Lists(reply.Right, joining.Key)))
        {
            HeardFrom(joining, reply.Key, now);
        }

        int n = 0;
        foreach (RouteEntry entry in reply.Left)
        {
            n = Consider(entry, n, now);
        }

        foreach (RouteEntry entry in reply.Right)
        {
            n = Consider(entry, n, now);
        }

        // Repair: our members on this neighbour's far side, within the span it reports, that it does not list are
        // suspect — re-verify them (a dead one fails and is removed everywhere).
        if ((uint)pending.Owner < (uint)_keys.Count)
        {
            LocalKey local = _keys[pending.Owner];
            RecheckMissing(local, reply.Key, _scratchNodes.AsSpan(0, n), now);
        }
    }

    private int Consider(in RouteEntry entry, int n, long now)
    {
        if (TryPeerOf(entry.Endpoint, out int peerId) && peerId != SelfPeerId)
        {
            if (n < _scratchNodes.Length)
            {
                _scratchNodes[n++] = new NodeRef(entry.Key, peerId);
            }

            Learn(entry.Key, peerId, now);
        }

        return n;
    }

    private void RecheckMissing(LocalKey local, Key256 neighbour, ReadOnlySpan<NodeRef> listed, long now)
    {
        bool clockwise = Key256.ClockwiseDistance(local.Key, neighbour) <= Key256.ClockwiseDistance(neighbour, local.Key);
        Key256 farthest = neighbour;
        foreach (NodeRef node in listed)
        {
            bool sameSide = clockwise
                ? Key256.ClockwiseDistance(local.Key, node.Key) < Key256.ClockwiseDistance(node.Key, local.Key)
                : Key256.ClockwiseDistance(node.Key, local.Key) < Key256.ClockwiseDistance(local.Key, node.Key);
            if (sameSide && (clockwise
                ? Key256.ClockwiseDistance(local.Key, node.Key) > Key256.ClockwiseDistance(local.Key, farthest)
                : Key256.ClockwiseDistance(node.Key, local.Key) > Key256.ClockwiseDistance(farthest, local.Key)))
            {
                farthest = node.Key;
            }
        }

        ReadOnlySpan<NodeRef> side = clockwise ? local.LeafSet.Larger : local.LeafSet.Smaller;
        foreach (NodeRef member in side)
        {
            bool within = clockwise
                ? Key256.IsStrictlyBetween(member.Key, neighbour, farthest)
                : Key256.IsStrictlyBetween(member.Key, farthest, neighbour);
            if (within && member.PeerId != SelfPeerId && !Contains(listed, member.Key))
            {
                Verify(member.Key, member.PeerId, now);
            }
        }
    }

    // ------------------------------------------------------------------ verification

    /// <summary>
    /// Considers (key, peer) learned from the network: verifies it when it would enter a leaf set or an empty place in
    /// a routing table. Returns whether it would.
    /// </summary>
    private bool Learn(Key256 key, int peerId, long now)
    {
        if (peerId == SelfPeerId || FindLocal(key) is not null)
        {
            return false;
        }

        bool wanted = false;
        foreach (LocalKey local in _keys)
        {
            wanted |= local.LeafSet.WouldAdd(key) || local.Routes.HasRoomFor(key, _peers[peerId].Subnet);
        }

        if (!wanted)
        {
            return false;
        }

        // Already verified into some table (a routing-table entry that now belongs in a leaf set): no second check.
        if (IsMember(key, peerId))
        {
            AdmitPeer(key, peerId);
        }
        else
        {
            Verify(key, peerId, now);
        }

        return true;
    }

    /// <summary>Sends an inquire with a fresh nonce for <paramref name="key"/> to <paramref name="peerId"/>.</summary>
    private void Verify(Key256 key, int peerId, long now, bool hinted = false)
    {
        int free = -1;
        for (int i = 0; i < MaxVerifications; i++)
        {
            ref Verification v = ref _verifications[i];
            if (v.InUse && v.PeerId == peerId && v.Key == key)
            {
                return; // already under way
            }

            if (!v.InUse && free < 0)
            {
                free = i;
            }
        }

        if (free < 0)
        {
            Counters.VerificationsDropped++;
            return; // bounded: the next maintenance round offers the candidate again
        }

        _verifications[free] = new Verification { InUse = true, Key = key, PeerId = peerId, Hinted = hinted };
        Span<byte> nonce = _verifyNonces.AsSpan(free * WireLimits.NonceLength, WireLimits.NonceLength);
        FillNonce(nonce);
        SendVerify(free, attempt: 0, NewMessageId(), now);
    }

    private void SendVerify(int slot, int attempt, ulong messageId, long now)
    {
        ref Verification v = ref _verifications[slot];
        // Secure modes: the candidate proves it owns the key, not only that it answers at its address (the record,
        // verified once per version, and a proof over our nonce and exchange key), before it enters a table. That
        // inquire is padded for its answer, so that an unproven asker still gets it, but only to a peer whose address
        // is proven: a spoofed flood "about itself" must not buy a full datagram at a victim. An unproven peer first
        // gets a small liveness inquire (no record asked for, no exchange key, no padding: smaller than any flood, and
        // it costs the candidate no proof); its answer proves the address, and the padded inquire follows at once.
        ReadOnlyMemory<byte> nonce = _verifyNonces.AsMemory(slot * WireLimits.NonceLength, WireLimits.NonceLength);
        ref Peer peer = ref _peers[v.PeerId];
        bool proven = peer.Verified || peer.Routable;
        var inquire = !_secure
            ? new Inquire(InquireFlags.None, v.Key, nonce)
            : proven
                ? new Inquire(InquireFlags.WantRecord | InquireFlags.WantAppData, v.Key, nonce, _pairKeys!.PublicKey)
                : new Inquire(InquireFlags.None, v.Key, nonce);
        int padTo = _secure && proven ? _transport.MaxDatagramSize : BareAuthoritySize;
        v.Probing = _secure && !proven;
        if (!SendRequest(inquire, v.PeerId, RequestKind.Verify, slot, attempt, messageId, now, maintenance: true, padTo: padTo))
        {
            v = default;
        }
    }

    private void OnVerifyAnswer(in Authority authority, in PendingRequest request, long now)
    {
        ref Verification v = ref _verifications[request.Owner];
        if (!v.InUse)
        {
            return;
        }

        if (v.Probing)
        {
            // The answer to the small liveness inquire proves the address; the inquire that asks for the record and
            // carries our exchange key, for a proof to judge, follows at once (bounded, like every retry).
            if (request.Attempt + 1 < _options.MaxAttempts)
            {
                SendVerify(request.Owner, request.Attempt + 1, NewMessageId(), now);
            }
            else
            {
                v = default;
            }

            return;
        }

        Key256 key = v.Key;
        int peerId = v.PeerId;
        ReadOnlySpan<byte> nonce = _verifyNonces.AsSpan(request.Owner * WireLimits.NonceLength, WireLimits.NonceLength);
        bool proven = (authority.Flags & AuthorityFlags.NotMine) == 0
            && authority.Key == key
            && authority.Nonce.Span.SequenceEqual(nonce)
            && (!_secure || (authority.Record is { } record && record.Key == key && (record.Flags & RecordFlags.Revoked) == 0 && AcceptAuthority(record, authority.Flags, authority.Proof.Span, nonce, now)));
        v = default;

        if (proven)
        {
            AdmitPeer(key, peerId);
        }
        else if ((authority.Flags & AuthorityFlags.NotMine) != 0 && authority.Key == key)
        {
            RemoveKey(key, now); // alive, but no longer holds the key
        }
    }

    /// <summary>
    /// A verification inquire was refused. Too large: the inquire to a then unproven peer was small, and its answer
    /// has just proved the address, so the padded inquire goes at once. Anything else ends the verification (the
    /// candidate is offered again later, if it is real).
    /// </summary>
    private void OnVerifyRefused(in PendingRequest request, in Error error, long now)
    {
        ref Verification v = ref _verifications[request.Owner];
        if (!v.InUse)
        {
            return;
        }

        if (error.Code == ErrorCode.TooLarge && request.Attempt + 1 < _options.MaxAttempts)
        {
            SendVerify(request.Owner, request.Attempt + 1, NewMessageId(), now);
            return;
        }

        v = default;
    }

    private void OnVerifyTimeout(in PendingRequest request, long now)
    {
        // Checking a suspicion, the suspect has already failed a whole check by its neighbour: two tries here make
        // six in all (a false death at 5% loss each way is then about one in a million), and the gap heals sooner.
        // An address that has never proved it receives there (no answer to any request of ours) gets one inquire and
        // no retransmission (anti-amplification): a spoofed flood "about itself" must not buy three inquires at a
        // victim. Its verification ends here; it is in no table, and an honest joiner offers itself again.
        ref Peer peer = ref _peers[_verifications[request.Owner].PeerId];
        int attempts = !peer.Verified && !peer.Routable ? 1 : _verifications[request.Owner].Hinted ? _options.MaxAttempts - 1 : DeathAttempts;
        if (request.Attempt + 1 < Math.Max(attempts, 1))
        {
            SendVerify(request.Owner, request.Attempt + 1, request.MessageId, now);
            return;
        }

        ref Verification v = ref _verifications[request.Owner];
        int peerId = v.PeerId;
        bool hinted = v.Hinted;
        v = default;
        DeclareDead(peerId, now, tell: !hinted, onward: hinted);
    }

    /// <summary>
    /// Takes every entry of a peer that stopped answering out of every table. A leaf-set member's death is news to the
    /// rest of that leaf set: when <paramref name="tell"/>, they are asked to check it themselves (a revoke flood from
    /// a node that is not the owner is only a suspicion), and our nearest neighbours are asked for the member that
    /// fills the gap.
    /// </summary>
    /// <remarks>
    /// A confirmed suspicion (<paramref name="onward"/>) is passed on only to the members on our side away from the
    /// dead key: the node that first declared it told its own leaf set, which misses the key's farthest holders on
    /// each side (eight places from the dead key, nine from its declarer).
    /// </remarks>
    private void DeclareDead(int peerId, long now, bool tell, bool onward = false)
    {
        if (peerId == SelfPeerId)
        {
            return;
        }

        Counters.DeclaredDead++;
        WireEndpoint endpoint = EndpointOf(peerId);
        foreach (LocalKey local in _keys)
        {
            bool wasNeighbour = false;

            // Bounded: a leaf set holds at most 32 entries.
            for (int round = 0; round < 2 * LeafSet.MaxSideCapacity; round++)
            {
                if (!TryFindPeer(local.LeafSet.Smaller, peerId, out Key256 key) && !TryFindPeer(local.LeafSet.Larger, peerId, out key))
                {
                    break;
                }

                local.LeafSet.Remove(key);
                wasNeighbour = true;
                var suspicion = new RouteEntry(key, endpoint);
                if (tell)
                {
                    FloodLeafSet(local, FloodFlags.NoAck | FloodFlags.Revoke, suspicion, default);
                }
                else if (onward)
                {
                    ReadOnlySpan<NodeRef> away = Key256.ClockwiseDistance(local.Key, key) < Key256.ClockwiseDistance(key, local.Key)
                        ? local.LeafSet.Smaller
                        : local.LeafSet.Larger;
                    foreach (NodeRef member in away)
                    {
                        SendFlood(member, FloodFlags.NoAck | FloodFlags.Revoke, suspicion, default);
                    }
                }
            }

            local.Routes.RemovePeer(peerId);
            if (wasNeighbour)
            {
                Repair(local, now);
            }
        }

        _cache.RemoveAll(n => n.PeerId == peerId);
        _peers[peerId].Verified = false;
        _peers[peerId].Routable = false;
    }

    /// <summary>A remote key is gone (revoked by its owner, or no longer held there): out of every table, gaps repaired.</summary>
    private void RemoveKey(Key256 key, long now)
    {
        foreach (LocalKey local in _keys)
        {
            local.Routes.Remove(key);
            if (local.LeafSet.Remove(key))
            {
                Repair(local, now);
            }
        }

        _cache.RemoveAll(n => n.Key == key);
    }

    /// <summary>
    /// Takes a verified entry into every table it fits. A new leaf-set member is told about us in the same breath
    /// (one flood of our entry, not passed on) unless <paramref name="tell"/> is false because an announcement to the
    /// whole leaf set follows: a key we learned late through an exchange has not heard of us either.
    /// </summary>
    private void AdmitPeer(Key256 key, int peerId, bool tell = true)
    {
        ref Peer peer = ref _peers[peerId];
        peer.Verified = true;
        var node = new NodeRef(key, peerId);
        foreach (LocalKey local in _keys)
        {
            if (local.LeafSet.TryAdd(node) == LeafSetAddResult.Added && tell)
            {
                SendFlood(node, FloodFlags.NoAck, new RouteEntry(local.Key, _selfEndpoint), default);
            }

            local.Routes.TryAdd(new RoutingEntry(node, peer.Rtt.SmoothedMicros, peer.Subnet));
        }

        Remember(node);
    }

    // ------------------------------------------------------------------ maintenance

    /// <summary>Runs maintenance when due; returns when it is due next.</summary>
    private long Maintain(long now)
    {
        if (_nextMaintenance == long.MinValue)
        {
            _nextMaintenance = now + Jittered(_options.MaintenancePeriodMicros);
        }

        if (now < _nextMaintenance)
        {
            return _nextMaintenance;
        }

        _nextMaintenance = now + Jittered(_options.MaintenancePeriodMicros);
        ReleaseHeldRoutes(now); // messages waiting for a joining key look again (and stop waiting after two periods)
        if (!Joined)
        {
            return _nextMaintenance; // Rebootstrap solicits with backoff until someone answers
        }

        if (Status == EngineStatus.Alone && _bootstrap.Count > 0)
        {
            // Joined, yet no one in any leaf set (every entry and answer was lost, or every peer died): a node left
            // alone must not start a ring of its own beside the real one. Join again, with backoff.
            Join(now);
            return _nextMaintenance;
        }

        if (_neighbourhoodPending && _cache.Count == 0)
        {
            // The bootstrap node's entries were all lost on the way: join again.
            _neighbourhoodPending = false;
            Join(now);
            return _nextMaintenance;
        }

        CollectPeers(now); // a table at least half full forgets what nothing refers to (Engine.Peers.cs)

        // Also once early (the second round): rings that formed apart while the first nodes joined under loss are
        // still small then, and the bootstrap node's entries lead straight across.
        if (++_maintenanceRound % SplitCheckRounds == 0 || _maintenanceRound == 2)
        {
            StartSplitCheck(now);
        }

        foreach (LocalKey local in _keys)
        {
            if (!local.Placed && !_neighbourhoodPending && _cache.Count > 0)
            {
                FindNeighbourhood(local, now);
                continue;
            }

            MaintainLeafSet(local, now);

            // Every other round one more member, in turn, so that members far from us are checked too.
            if (_maintenanceRound % MemberCheckRounds == 0)
            {
                ReadOnlySpan<NodeRef> side = (_probeCursor & 1) == 0 ? local.LeafSet.Smaller : local.LeafSet.Larger;
                int index = 1 + (_probeCursor / 2 % Math.Max(side.Length - 1, 1));
                if (index < side.Length && side[index].PeerId != SelfPeerId)
                {
                    Verify(side[index].Key, side[index].PeerId, now);
                }
            }
        }

        if (_maintenanceRound % MemberCheckRounds == 0)
        {
            _probeCursor++;
        }

        if (_keys.Count > 0 && _maintenanceRound % RefreshRounds == RefreshRounds / 2 && _keys[_maintenanceRound / RefreshRounds % _keys.Count] is { Placed: true } refreshed)
        {
            RefreshRoutes(refreshed, now);
        }

        return _nextMaintenance;
    }

    // ------------------------------------------------------------------ split detection and merge

    /// <summary>
    /// Looks for a part of the ring that ours has lost sight of (after a partition heals, or when joins under loss
    /// left two interleaved rings): a search for one of our keys that starts outside our own view, from the
    /// entries a bootstrap node hands us or, in alternate checks, from a routing-table entry outside the leaf set.
    /// Keys it finds that belong in our leaf set are admitted and told about us, and the merge spreads from there
    /// through the ordinary leaf-set exchange.
    /// </summary>
    private void StartSplitCheck(long now)
    {
        if (_keys.Count == 0 || _splitCheck != SplitCheckState.Idle)
        {
            _splitCheck = SplitCheckState.Idle; // a handshake that never finished is abandoned
            return;
        }

        int check = _maintenanceRound / SplitCheckRounds;
        if (_bootstrap.Count > 0 && check % 2 == 0)
        {
            _splitCheck = SplitCheckState.Handshake;
            _splitSeedCount = 0;
            Solicit(check / 2 % _bootstrap.Count, now);
            return;
        }

        LocalKey local = _keys[check % _keys.Count];
        int routes = local.Routes.CopyTo(_scratchRoutes);
        int candidates = 0;
        for (int i = 0; i < routes; i++)
        {
            if (!local.LeafSet.Contains(_scratchRoutes[i].Node.Key) && candidates < _splitSeeds.Length)
            {
                _splitSeeds[candidates++] = _scratchRoutes[i].Node;
            }
        }

        if (candidates > 0)
        {
            CheckSplit(local, _splitSeeds.AsSpan(_random.Next(candidates), 1), now);
        }
    }

    private void CheckSplitFromBootstrapEntries(long now)
    {
        if (_splitSeedCount == 0)
        {
            return; // the entries were reordered behind the ack: the first to arrive starts the search
        }

        _splitCheck = SplitCheckState.Idle;
        LocalKey local = _keys[_maintenanceRound / SplitCheckRounds / 2 % _keys.Count];
        CheckSplit(local, _splitSeeds.AsSpan(0, _splitSeedCount), now);
    }

    private void CheckSplit(LocalKey local, ReadOnlySpan<NodeRef> seeds, long now)
    {
        Counters.SplitChecks++;
        var request = new SearchRequest(local.Key, LookupKind.Nearest, Key256.Zero, Key256.MaxValue, MaxResults: 2, AllowLocal: false);
        StartSearch(request, (outcome, at) => OnSplitCheck(local, outcome, at), now, seeds);
    }

    private void OnSplitCheck(LocalKey local, SearchOutcome outcome, long now)
    {
        if (!_keys.Contains(local))
        {
            return;
        }

        bool news = false;
        foreach (SearchResultData result in outcome.Results)
        {
            // Confirmed by their owners with our nonce.
            if (TryPeerOf(WireEndpoint.FromIPEndPoint(result.Endpoint), out int peerId) && peerId != SelfPeerId && local.LeafSet.WouldAdd(result.Key))
            {
                news = true;
                AdmitPeer(result.Key, peerId, tell: false);
            }
        }

        if (news)
        {
            Counters.SplitsFound++;
            Announce(local);
            MaintainLeafSet(local, now);
        }
    }

    private long Jittered(long period) => period - (period / 10) + (long)(_random.NextDouble() * (period / 5));

    // ------------------------------------------------------------------ helpers

    private bool IsMember(Key256 key, int peerId)
    {
        foreach (LocalKey local in _keys)
        {
            if (local.LeafSet.Contains(key) || local.Routes.Contains(key, peerId))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Up to <paramref name="into"/>.Length keys spread over what we know: own keys, leaf sets, routing rows.</summary>
    private int SpreadKeys(Span<WireKey> into)
    {
        int n = 0;
        foreach (LocalKey local in _keys)
        {
            if (n < into.Length)
            {
                into[n++] = new WireKey(local.Key);
            }
        }

        int routes = _keys.Count > 0 ? _keys[0].Routes.CopyTo(_scratchRoutes) : 0;
        int step = Math.Max(routes / Math.Max(into.Length - n, 1), 1);
        for (int i = 0; i < routes && n < into.Length; i += step)
        {
            into[n++] = new WireKey(_scratchRoutes[i].Node.Key);
        }

        for (int i = 0; i < _cache.Count && n < into.Length; i++)
        {
            into[n++] = new WireKey(_cache[i].Key);
        }

        return n;
    }

    private bool TryEntryOf(Key256 key, out RouteEntry entry)
    {
        if (FindLocal(key) is not null)
        {
            entry = new RouteEntry(key, _selfEndpoint);
            return true;
        }

        foreach (LocalKey local in _keys)
        {
            foreach (NodeRef n in local.LeafSet.Smaller)
            {
                if (n.Key == key)
                {
                    entry = new RouteEntry(key, EndpointOf(n.PeerId));
                    return true;
                }
            }

            foreach (NodeRef n in local.LeafSet.Larger)
            {
                if (n.Key == key)
                {
                    entry = new RouteEntry(key, EndpointOf(n.PeerId));
                    return true;
                }
            }

            int routes = local.Routes.CopyTo(_scratchRoutes);
            for (int i = 0; i < routes; i++)
            {
                if (_scratchRoutes[i].Node.Key == key)
                {
                    entry = new RouteEntry(key, EndpointOf(_scratchRoutes[i].Node.PeerId));
                    return true;
                }
            }
        }

        foreach (NodeRef n in _cache)
        {
            if (n.Key == key)
            {
                entry = new RouteEntry(key, EndpointOf(n.PeerId));
                return true;
            }
        }

        entry = default;
        return false;
    }

    private int Entries(ReadOnlySpan<NodeRef> side, RouteEntry[] into)
    {
        int n = 0;
        foreach (NodeRef node in side)
        {
            WireEndpoint endpoint = EndpointOf(node.PeerId);
            if (!endpoint.IsEmpty && n < into.Length)
            {
                into[n++] = new RouteEntry(node.Key, endpoint);
            }
        }

        return n;
    }

    private static WireEndpoint SourceEndpoint(SocketAddress source) =>
        WireEndpoint.TryFromSocketAddress(source, out WireEndpoint endpoint) ? endpoint : default;

    private static bool Listed(ReadOnlySpan<WireEndpoint> endpoints, WireEndpoint endpoint)
    {
        foreach (WireEndpoint e in endpoints)
        {
            if (e == endpoint)
            {
                return true;
            }
        }

        return false;
    }

    private static bool TryFindPeer(ReadOnlySpan<NodeRef> nodes, int peerId, out Key256 key)
    {
        foreach (NodeRef node in nodes)
        {
            if (node.PeerId == peerId)
            {
                key = node.Key;
                return true;
            }
        }

        key = default;
        return false;
    }

    /// <summary>A candidate being verified: which key, at which peer, and whether it is already a member.</summary>
    private enum SplitCheckState : byte
    {
        Idle,
        Handshake,
        AwaitingEntries,
    }

    private struct Verification
    {
        public bool InUse;
        public Key256 Key;
        public int PeerId;
        public bool Hinted;

        /// <summary>Secure modes: the inquire out is the small first one to an unproven peer (no public key, no proof to judge).</summary>
        public bool Probing;
    }
}
