using System.Net;
using Drt.Overlay.Routing;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Engine;

/// <summary>What a search asks for; validated by the facade before it reaches the engine.</summary>
/// <param name="Target">The key searched for.</param>
/// <param name="Kind">Exact, nearest in range, or any in range.</param>
/// <param name="Min">Smallest acceptable key (the target for exact searches).</param>
/// <param name="Max">Largest acceptable key (the target for exact searches).</param>
/// <param name="MaxResults">How many results (1 unless nearest).</param>
/// <param name="AllowLocal">Whether this instance's own keys may be results.</param>
/// <param name="Iterative">
/// DRT's iterative search: one hop at a time, each node that answers reported as an intermediate result, and the
/// search paused until <see cref="Engine.ContinueSearch"/>.
/// </param>
internal readonly record struct SearchRequest(Key256 Target, LookupKind Kind, Key256 Min, Key256 Max, int MaxResults, bool AllowLocal, bool Iterative = false)
{
    /// <summary>An exact search for <paramref name="key"/>.</summary>
    public static SearchRequest Exact(Key256 key, bool allowLocal = false) => new(key, LookupKind.Exact, key, key, 1, allowLocal);
}

/// <summary>One search result, confirmed by its owner (inquire with our nonce).</summary>
/// <param name="Key">The registered key.</param>
/// <param name="Endpoints">Where its owner receives (at least one), as its record lists them.</param>
/// <param name="AppData">The application data registered with it (a copy).</param>
/// <param name="IsExact">Whether the key equals the target (DRT_MATCH_EXACT) rather than being the nearest (NEAR).</param>
/// <param name="Hops">
/// Overlay hops from the searcher to the key's owner: 0 for a local key, 1 for a node the searcher knew, one more for
/// each referral on the way.
/// </param>
/// <param name="IsIntermediate">
/// A hop of an iterative search (DRT_MATCH_INTERMEDIATE): a node that answered, not a result; no app data.
/// </param>
internal sealed record SearchResultData(Key256 Key, IReadOnlyList<IPEndPoint> Endpoints, byte[] AppData, bool IsExact, int Hops, bool IsIntermediate = false)
{
    /// <summary>The owner's first endpoint.</summary>
    public IPEndPoint Endpoint => Endpoints[0];
}

/// <summary>One node a search contacted, as the facade shows it (DRT's per-hop address and flags).</summary>
/// <param name="Endpoint">Where the node receives.</param>
/// <param name="Key">The key it was contacted for.</param>
/// <param name="Outcome">What happened.</param>
/// <param name="RttMicros">Round-trip time of its answer in microseconds; 0 when it did not answer.</param>
internal readonly record struct PathHop(IPEndPoint Endpoint, Key256 Key, HopOutcome Outcome, int RttMicros);

/// <summary>How a search ended: its results (best first, possibly none) and every hop contacted.</summary>
/// <param name="Results">Confirmed results, nearest the target first.</param>
/// <param name="Path">Every node contacted, with its outcome and RTT.</param>
internal sealed record SearchOutcome(IReadOnlyList<SearchResultData> Results, IReadOnlyList<LookupHop> Path);

internal sealed partial class Engine
{
    private const int CacheCapacity = 64;
    private const int MaxReferrals = 6;
    private const int ExtraInquiryAttempts = 2;
    private const int NearestOverall = 4;

    private readonly SearchOperation?[] _searchSlots;
    private long _searchGeneration;
    private int _lastSearchSlot;
    private readonly List<NodeRef> _cache = [];
    private readonly RouteEntry[] _replyEntries = new RouteEntry[WireLimits.MaxReplyEntries];
    private readonly NodeRef[] _scratchNodes = new NodeRef[(2 * LeafSet.MaxSideCapacity) + 64];
    private readonly NodeRef[] _referrals = new NodeRef[WireLimits.MaxReplyEntries];
    private readonly RoutingEntry[] _scratchRoutes = new RoutingEntry[4096];

    /// <summary>
    /// Starts a search (engine thread). <paramref name="completed"/> runs on the engine thread when it ends.
    /// Returns false when <see cref="EngineOptions.MaxSearches"/> searches are already running.
    /// </summary>
    public bool StartSearch(in SearchRequest request, Action<SearchOutcome> completed, long now)
    {
        ArgumentNullException.ThrowIfNull(completed);
        ThrowIfFaulted();
        return StartSearch(request, (outcome, _) => completed(outcome), now);
    }

    /// <summary>
    /// Starts a search that can be continued (iterative) and cancelled (engine thread). Returns its id; 0 when
    /// <see cref="EngineOptions.MaxSearches"/> searches are already running, or when it ended at once (it needed no
    /// one: <paramref name="completed"/> has run). <paramref name="intermediate"/> hears each hop of an iterative
    /// search; the search then waits for <see cref="ContinueSearch"/>.
    /// </summary>
    public long StartSearch(in SearchRequest request, Action<SearchOutcome> completed, Action<SearchResultData>? intermediate, long now)
    {
        ArgumentNullException.ThrowIfNull(completed);
        ThrowIfFaulted();
        if (!StartSearch(request, (outcome, _) => completed(outcome), now, default, intermediate))
        {
            return 0;
        }

        return _searchSlots[_lastSearchSlot]?.Id ?? 0;
    }

    /// <summary>Lets a paused iterative search take its next hop; false when it is not running.</summary>
    public bool ContinueSearch(long searchId, long now)
    {
        if (FindSearch(searchId) is not { } op)
        {
            return false;
        }

        op.Paused = false;
        Pump(op, now);
        return true;
    }

    /// <summary>
    /// Ends a search now with the results confirmed so far (the caller's timeout or cancellation): its requests are
    /// forgotten, so nothing more is sent for it and late answers are dropped. False when it is not running.
    /// </summary>
    public bool CancelSearch(long searchId, long now)
    {
        if (FindSearch(searchId) is not { } op)
        {
            return false;
        }

        foreach (ulong messageId in op.InFlight.Keys)
        {
            _pending.Remove(messageId);
        }

        op.InFlight.Clear();
        Complete(op, now);
        return true;
    }

    private SearchOperation? FindSearch(long searchId)
    {
        int slot = (int)(searchId & 0xFFFF);
        return searchId != 0 && slot < _searchSlots.Length && _searchSlots[slot] is { } op && op.Id == searchId ? op : null;
    }

    /// <summary>
    /// Starts a search whose completion also receives the time of the event that ended it. With
    /// <paramref name="seeds"/> the search starts from those nodes only, not from what this instance knows (the split
    /// check asks another part of the ring).
    /// </summary>
    private bool StartSearch(in SearchRequest request, Action<SearchOutcome, long> completed, long now, ReadOnlySpan<NodeRef> seeds = default, Action<SearchResultData>? intermediate = null)
    {
        int slot = Array.IndexOf(_searchSlots, null);
        if (slot < 0)
        {
            return false;
        }

        // An iterative search goes one hop at a time: α = 1.
        var lookup = new IterativeLookup(request.Target, request.Kind, request.Min, request.Max, request.MaxResults, request.Iterative ? 1 : _options.Alpha, SelfPeerId, request.AllowLocal);
        var op = new SearchOperation(slot, lookup, completed)
        {
            Id = (++_searchGeneration << 16) | (uint)slot,
            Intermediate = request.Iterative ? intermediate : null,
        };
        _lastSearchSlot = slot;
        FillNonce(op.Nonce);
        _searchSlots[slot] = op;
        if (seeds.IsEmpty)
        {
            Seed(op);
        }
        else
        {
            foreach (NodeRef seed in seeds)
            {
                lookup.AddSeed(seed);
            }
        }

        Pump(op, now);
        return true;
    }

    /// <summary>Seeds a search with every key this instance knows: its own, its leaf sets and tables, its cache.</summary>
    private void Seed(SearchOperation op)
    {
        IterativeLookup lookup = op.Lookup;
        foreach (LocalKey local in _keys)
        {
            lookup.AddSeed(new NodeRef(local.Key, SelfPeerId));
            foreach (NodeRef n in local.LeafSet.Smaller)
            {
                lookup.AddSeed(n);
            }

            foreach (NodeRef n in local.LeafSet.Larger)
            {
                lookup.AddSeed(n);
            }

            int routes = local.Routes.CopyTo(_scratchRoutes);
            for (int i = 0; i < routes; i++)
            {
                lookup.AddSeed(_scratchRoutes[i].Node);
            }
        }

        foreach (NodeRef n in _cache)
        {
            lookup.AddSeed(n);
        }
    }

    private void Pump(SearchOperation op, long now)
    {
        if (op.Finishing || op.Paused)
        {
            return;
        }

        while (op.Lookup.TryNextQuery(out NodeRef node))
        {
            SendLookup(op, node, attempt: 0, NewMessageId(), now);
        }

        if (op.Lookup.IsFinished)
        {
            BeginInquiries(op, now);
        }
    }

    private void SendLookup(SearchOperation op, NodeRef node, int attempt, ulong messageId, long now)
    {
        // The path: every hop contacted so far (DRT's FlaggedPath), so hops do not refer back to them.
        int pathLength = 0;
        foreach (LookupHop hop in op.Lookup.Path)
        {
            if (pathLength == op.PathBuffer.Length)
            {
                break;
            }

            WireEndpoint endpoint = EndpointOf(hop.Node.PeerId);
            if (!endpoint.IsEmpty)
            {
                op.PathBuffer[pathLength++] = endpoint;
            }
        }

        IterativeLookup l = op.Lookup;
        var message = new Lookup(
            LookupFlags.None,
            l.Kind,
            l.Target,
            l.Kind == LookupKind.Exact ? l.Target : l.Min,
            l.Kind == LookupKind.Exact ? l.Target : l.Max,
            (byte)Math.Min(l.MaxResults, WireLimits.MaxReplyEntries),
            node.Key,
            OwnEntryNear(l.Target),
            new WireList<WireEndpoint>(op.PathBuffer.AsMemory(0, pathLength)));

        op.InFlight[messageId] = node;
        if (!SendRequest(message, node.PeerId, RequestKind.Lookup, op.Slot, attempt, messageId, now, padTo: LookupPadding(message.Want)))
        {
            op.InFlight.Remove(messageId);
            l.OnUnreachable(node);
        }
    }

    private void OnLookupReply(ReadOnlyMemory<byte> datagram, in WireHeader header, System.Net.SocketAddress source, long now)
    {
        if (!TryDecode(datagram, header, out LookupReply reply) || !TryMatch(header, source, now, out PendingRequest request))
        {
            return;
        }

        if ((RequestKind)request.Kind == RequestKind.Refresh)
        {
            OnRefreshReply(reply, request.Owner, now);
            return;
        }

        if (_searchSlots[request.Owner] is not SearchOperation op || !op.InFlight.Remove(request.MessageId, out NodeRef node))
        {
            return; // the search ended (or moved on to inquiries) while this answer was on its way
        }

        if ((reply.Flags & LookupReplyFlags.Busy) != 0)
        {
            op.Lookup.OnRejected(node, HopOutcome.TooBusy);
            Pump(op, now);
            return;
        }

        int count = 0;
        foreach (RouteEntry entry in reply.Entries)
        {
            if (count < _referrals.Length && TryPeerOf(entry.Endpoint, out int peerId))
            {
                var referral = new NodeRef(entry.Key, peerId);
                _referrals[count++] = referral;
                if (peerId != SelfPeerId)
                {
                    Remember(referral);
                }
            }
        }

        HopOutcome outcome = (reply.Flags & LookupReplyFlags.NotMine) != 0 ? HopOutcome.BadValidateId : HopOutcome.None;
        int rtt = (int)Math.Clamp(now - request.SentAt, 0, int.MaxValue);
        op.Lookup.OnReply(node, _referrals.AsSpan(0, count), rtt, outcome);
        if (op.Intermediate is { } report && outcome == HopOutcome.None)
        {
            // Iterative: this hop is the caller's to see (the last one too: the caller may stop before the owner is
            // asked for its record), and the next step waits for ContinueSearch.
            op.Paused = true;
            report(new SearchResultData(node.Key, [EndpointOf(node.PeerId).ToIPEndPoint()], [], IsExact: false, op.Lookup.HopsTo(node.Key), IsIntermediate: true));
            return;
        }

        Pump(op, now);
    }

    private void OnSearchRequestTimeout(in PendingRequest request, long now)
    {
        if (_searchSlots[request.Owner] is not SearchOperation op || !op.InFlight.Remove(request.MessageId, out NodeRef node))
        {
            return;
        }

        // A lookup that fails has alternatives; but the inquiry to a result decides the answer (a nearest search would
        // fall back to a farther key), and so does a lookup to a node that is itself a result as things stand (a node
        // unreachable as a hop is no result either): those try twice more, about 1 in 100,000 at 5% loss each way.
        // A peer silent to everything lately (more timeouts in a row than a death takes) gets no more tries.
        bool inquiry = (RequestKind)request.Kind == RequestKind.Inquire;
        bool decisive = inquiry || op.Lookup.IsLeadingResult(node);
        bool silent = _peers[request.PeerId].ConsecutiveTimeouts >= DeathAttempts;
        if (!silent && request.Attempt + 1 < _options.MaxAttempts + (decisive ? ExtraInquiryAttempts : 0))
        {
            // Retransmit with the same id, so a late answer to the first copy is still accepted.
            if (inquiry)
            {
                SendInquire(op, node, request.Attempt + 1, request.MessageId, now);
            }
            else
            {
                SendLookup(op, node, request.Attempt + 1, request.MessageId, now);
            }

            return;
        }

        op.Lookup.OnUnreachable(node);
        if (silent)
        {
            ForgetSilent(request.PeerId, now);
        }

        if (inquiry)
        {
            InquiryDone(op, now);
        }
        else
        {
            Pump(op, now);
        }
    }

    /// <summary>
    /// A peer that let a death's worth of requests in a row go unanswered leaves the routing tables and the cache, so
    /// that searches stop asking it; a leaf-set member is checked (and, if dead, its neighbours told) the usual way.
    /// </summary>
    private void ForgetSilent(int peerId, long now)
    {
        foreach (LocalKey local in _keys)
        {
            local.Routes.RemovePeer(peerId);
            if (TryFindPeer(local.LeafSet.Smaller, peerId, out Key256 key) || TryFindPeer(local.LeafSet.Larger, peerId, out key))
            {
                Verify(key, peerId, now, hinted: false);
            }
        }

        _cache.RemoveAll(n => n.PeerId == peerId);
    }

    private void OnSearchRequestRefused(in PendingRequest request, in Error error, long now)
    {
        if (_searchSlots[request.Owner] is not SearchOperation op || !op.InFlight.Remove(request.MessageId, out NodeRef node))
        {
            return;
        }

        if ((RequestKind)request.Kind == RequestKind.Inquire && error.Code == ErrorCode.TooLarge && request.Attempt + 1 < _options.MaxAttempts)
        {
            // The owner's answer is larger than our inquire and it has not seen us answer yet: it probed us before
            // refusing (anti-amplification), so by now it has our pong. Ask again.
            SendInquire(op, node, request.Attempt + 1, NewMessageId(), now);
            return;
        }

        op.Lookup.OnRejected(node, error.Code == ErrorCode.Busy ? HopOutcome.TooBusy : HopOutcome.None);
        if ((RequestKind)request.Kind == RequestKind.Inquire)
        {
            InquiryDone(op, now);
        }
        else
        {
            Pump(op, now);
        }
    }

    // ------------------------------------------------------------------ confirming results with their owners

    /// <summary>
    /// The lookup has converged: ask each result's owner to prove it still registers the key, with our nonce
    /// (DESIGN §3: the final answer comes from the owner itself).
    /// </summary>
    private void BeginInquiries(SearchOperation op, long now)
    {
        op.Finishing = true;
        int results = op.Lookup.GetResults(op.Results, out _);
        for (int i = 0; i < results; i++)
        {
            NodeRef node = op.Results[i];
            if (node.PeerId == SelfPeerId)
            {
                ConfirmLocal(op, node.Key);
                continue;
            }

            op.InquiriesOut++;
            SendInquire(op, node, attempt: 0, NewMessageId(), now);
        }

        if (op.InquiriesOut == 0)
        {
            Complete(op, now);
        }
    }

    private void SendInquire(SearchOperation op, NodeRef node, int attempt, ulong messageId, long now)
    {
        // Secure modes: our exchange key goes with the nonce, so the owner's proof binds this searcher (not a relay),
        // and the owner can make it a MAC under our pair key rather than a signature.
        var inquire = new Inquire(InquireFlags.WantRecord | InquireFlags.WantAppData, node.Key, op.Nonce, _pairKeys?.PublicKey ?? default);
        op.InFlight[messageId] = node;
        if (!SendRequest(inquire, node.PeerId, RequestKind.Inquire, op.Slot, attempt, messageId, now, padTo: _transport.MaxDatagramSize))
        {
            op.InFlight.Remove(messageId);
            op.Lookup.OnUnreachable(node);
            InquiryDone(op, now);
        }
    }

    private void OnAuthority(ReadOnlyMemory<byte> datagram, in WireHeader header, System.Net.SocketAddress source, long now)
    {
        if (!TryDecode(datagram, header, out Authority authority) || !TryMatch(header, source, now, out PendingRequest request))
        {
            return;
        }

        if ((RequestKind)request.Kind == RequestKind.Verify)
        {
            OnVerifyAnswer(authority, request, now);
            return;
        }

        if (_searchSlots[request.Owner] is not SearchOperation op || !op.InFlight.Remove(request.MessageId, out NodeRef node))
        {
            return;
        }

        // Accept only the owner's own answer to our nonce, about the key we asked for.
        bool valid = (authority.Flags & (AuthorityFlags.NotMine | AuthorityFlags.Busy)) == 0
            && authority.Key == node.Key
            && authority.Nonce.Span.SequenceEqual(op.Nonce)
            && authority.Record is { } candidate
            && candidate.Key == node.Key
            && (candidate.Flags & RecordFlags.Revoked) == 0;

        // Secure modes: the owner's signed record (verified once per version) and its proof over our fresh nonce.
        bool forged = valid && _secure && !AcceptAuthority(authority.Record!.Value, authority.Flags, authority.Proof.Span, op.Nonce, now);
        valid &= !forged;

        if (valid)
        {
            SignedRecord record = authority.Record!.Value;
            var endpoints = new List<IPEndPoint>(1);
            foreach (WireEndpoint endpoint in record.Endpoints)
            {
                endpoints.Add(endpoint.ToIPEndPoint());
            }

            if (endpoints.Count == 0)
            {
                endpoints.Add(EndpointOf(node.PeerId).ToIPEndPoint()); // a record without endpoints: where it answered
            }

            op.Confirmed.Add(new SearchResultData(node.Key, endpoints, record.AppData.ToArray(), node.Key == op.Lookup.Target, op.Lookup.HopsTo(node.Key)));
        }
        else
        {
            op.Lookup.OnRejected(node, forged ? HopOutcome.Suspect : (authority.Flags & AuthorityFlags.Busy) != 0 ? HopOutcome.TooBusy : HopOutcome.BadValidateId);
        }

        InquiryDone(op, now);
    }

    private void InquiryDone(SearchOperation op, long now)
    {
        if (--op.InquiriesOut > 0)
        {
            return;
        }

        // Every candidate result failed its check: the lookup goes on with what is left (DRT pops the next best
        // match), a bounded number of times.
        if (op.Confirmed.Count == 0 && !op.Lookup.Exhausted && op.Rounds++ < 2)
        {
            op.Finishing = false;
            Pump(op, now);
            if (!op.Finishing || op.InquiriesOut > 0)
            {
                return;
            }
        }

        Complete(op, now);
    }

    /// <summary>The path of a search (engine thread): each hop with its endpoint, for the application.</summary>
    public PathHop[] DescribePath(IReadOnlyList<LookupHop> path)
    {
        var hops = new PathHop[path.Count];
        for (int i = 0; i < hops.Length; i++)
        {
            LookupHop hop = path[i];
            IPEndPoint endpoint = hop.Node.PeerId == SelfPeerId || _peers[hop.Node.PeerId].Address is null
                ? _selfEndpoint.ToIPEndPoint()
                : EndpointOf(hop.Node.PeerId).ToIPEndPoint();
            hops[i] = new PathHop(endpoint, hop.Node.Key, hop.Outcome, hop.RttMicros);
        }

        return hops;
    }

    /// <summary>The path of a running search so far (engine thread); empty when it is not running.</summary>
    public PathHop[] SearchPath(long searchId) => FindSearch(searchId) is { } op ? DescribePath(op.Lookup.Path) : [];

    private void ConfirmLocal(SearchOperation op, Key256 key)
    {
        foreach (LocalKey local in _keys)
        {
            if (local.Key == key)
            {
                op.Confirmed.Add(new SearchResultData(key, AdvertisedEndpoints(), (byte[])local.AppData.Clone(), key == op.Lookup.Target, Hops: 0));
                return;
            }
        }
    }

    private void Complete(SearchOperation op, long now)
    {
        if (_searchSlots[op.Slot] != op)
        {
            return;
        }

        _searchSlots[op.Slot] = null;
        Key256 target = op.Lookup.Target;
        op.Confirmed.Sort((a, b) => Key256.CompareCloseness(target, a.Key, b.Key));
        op.Completed(new SearchOutcome(op.Confirmed, [.. op.Lookup.Path]), now);
    }

    // ------------------------------------------------------------------ answering

    private void OnLookup(ReadOnlyMemory<byte> datagram, in WireHeader header, System.Net.SocketAddress source, long now)
    {
        if (!TryDecode(datagram, header, out Lookup lookup))
        {
            return;
        }

        if (_keys.Count == 0)
        {
            // A resolve-only instance does not route for others (DRT semantics).
            Reply(new Error(ErrorCode.Unsupported, 0), header, datagram.Length, source);
            return;
        }

        LookupReplyFlags flags = LookupReplyFlags.None;
        LocalKey local = FindLocal(lookup.ValidateKey) ?? NearestLocal(lookup.Target);
        LearnSender(lookup.Sender, source, now);
        if (local.Key != lookup.ValidateKey)
        {
            flags |= LookupReplyFlags.NotMine;
        }

        int count = local.LeafSet.IsEmpty || local.LeafSet.Covers(lookup.Target)
            ? NearestKnown(local, lookup, ref flags)
            : Referrals(local, lookup, ref flags);
        if (local.Joining)
        {
            flags &= ~LookupReplyFlags.Covering; // not yet the authority for its range: the searcher asks on
        }

        ReplyLookup(flags, count, header, datagram.Length, source);
    }

    /// <summary>
    /// The leaf set covers the target: answer with the keys in the searcher's range nearest the target (want + 2,
    /// as one may be the searcher's own) and the nearest keys overall, so the searcher can stop here.
    /// </summary>
    private int NearestKnown(LocalKey local, in Lookup lookup, ref LookupReplyFlags flags)
    {
        flags |= LookupReplyFlags.Covering;
        int n = 0;
        _scratchNodes[n++] = new NodeRef(local.Key, SelfPeerId);
        foreach (NodeRef m in local.LeafSet.Smaller)
        {
            _scratchNodes[n++] = m;
        }

        foreach (NodeRef m in local.LeafSet.Larger)
        {
            _scratchNodes[n++] = m;
        }

        Span<NodeRef> nodes = _scratchNodes.AsSpan(0, n);
        SortByCloseness(nodes, lookup.Target);

        int inRangeWanted = Math.Min(lookup.Want + 2, WireLimits.MaxReplyEntries - NearestOverall);
        int count = 0;
        int inRange = 0;
        foreach (NodeRef m in nodes)
        {
            if (inRange < inRangeWanted && InRange(m.Key, lookup))
            {
                _replyEntries[count++] = new RouteEntry(m.Key, EndpointOf(m.PeerId));
                inRange++;
            }
        }

        // Then the nearest overall that are not already in, for the searcher's view of the neighbourhood.
        int overall = 0;
        foreach (NodeRef m in nodes)
        {
            if (overall == NearestOverall || count == _replyEntries.Length)
            {
                break;
            }

            if (!InRange(m.Key, lookup) || inRange >= inRangeWanted)
            {
                if (!Contains(_replyEntries.AsSpan(0, count), m.Key))
                {
                    _replyEntries[count++] = new RouteEntry(m.Key, EndpointOf(m.PeerId));
                    overall++;
                }
            }
        }

        return count;
    }

    /// <summary>
    /// Referrals towards the target: the routing-table cell for the next digit (RTT-ordered), the numerically
    /// closest table entry (Pastry's rare case) and leaf-set members — only those closer to the target than this
    /// key, nearest first. With none closer, this key is the nearest it knows: answer as covering.
    /// </summary>
    private int Referrals(LocalKey local, in Lookup lookup, ref LookupReplyFlags flags)
    {
        Key256 target = lookup.Target;
        int n = 0;
        foreach (RoutingEntry e in local.Routes.NextHops(target))
        {
            n = AddCloser(n, e.Node, local.Key, target);
        }

        if (local.Routes.FindCloser(target, out RoutingEntry closer))
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

        if (n == 0)
        {
            return NearestKnown(local, lookup, ref flags);
        }

        Span<NodeRef> nodes = _scratchNodes.AsSpan(0, n);
        SortByCloseness(nodes, target);
        int count = Math.Min(n, Math.Max(MaxReferrals, Math.Min((int)lookup.Want, WireLimits.MaxReplyEntries)));
        for (int i = 0; i < count; i++)
        {
            _replyEntries[i] = new RouteEntry(nodes[i].Key, EndpointOf(nodes[i].PeerId));
        }

        return count;
    }

    private int AddCloser(int n, NodeRef node, Key256 self, Key256 target)
    {
        if (n < _scratchNodes.Length
            && Key256.CompareCloseness(target, node.Key, self) < 0
            && !Contains(_scratchNodes.AsSpan(0, n), node.Key))
        {
            _scratchNodes[n++] = node;
        }

        return n;
    }

    private void OnInquire(ReadOnlyMemory<byte> datagram, in WireHeader header, System.Net.SocketAddress source, long now)
    {
        if (!TryDecode(datagram, header, out Inquire inquire))
        {
            return;
        }

        LocalKey? local = FindLocal(inquire.ValidateKey);
        if (local is null)
        {
            Reply(new Authority(AuthorityFlags.NotMine, inquire.ValidateKey, inquire.Nonce, null, default), header, datagram.Length, source);
            return;
        }

        SignedRecord? record = null;
        ReadOnlyMemory<byte> proof = default;
        AuthorityFlags flags = AuthorityFlags.None;
        if ((inquire.Flags & InquireFlags.WantRecord) != 0 && local.Record is { } signed)
        {
            // Secure modes: the signed record whole (its signature covers the data) and a proof over the nonce, bound
            // to the asker's exchange key. Without that key a proof would bind no searcher and prove nothing to anyone
            // (every searcher checks its own key), so none is made.
            record = signed;
            if (!inquire.SearcherExchangeKey.IsEmpty && !TryProveAnswer(local, signed, inquire, now, out proof, out flags))
            {
                Reply(new Authority(flags, local.Key, inquire.Nonce, null, default), header, datagram.Length, source);
                return;
            }
        }
        else if ((inquire.Flags & InquireFlags.WantRecord) != 0)
        {
            record = new SignedRecord(
                local.Key,
                default,
                default,
                default,
                new WireList<WireEndpoint>(_advertisedEndpoints),
                (inquire.Flags & InquireFlags.WantAppData) != 0 ? local.AppData : default,
                local.Sequence,
                0,
                RecordFlags.None,
                default);
        }

        Reply(new Authority(flags, local.Key, inquire.Nonce, record, proof), header, datagram.Length, source);
    }

    /// <summary>
    /// The entry of our key nearest <paramref name="target"/>, for the sender field of a lookup: the nodes asked
    /// learn of a ring member near them they may have missed. None while resolve-only or not yet placed.
    /// </summary>
    private RouteEntry? OwnEntryNear(Key256 target)
    {
        if (_keys.Count == 0)
        {
            return null;
        }

        LocalKey local = NearestLocal(target);
        return local.Placed && !local.Joining ? new RouteEntry(local.Key, _selfEndpoint) : null;
    }

    /// <summary>
    /// A request's sender entry, from the sender's own address, that belongs in one of our leaf sets and is missing
    /// there is verified in: how two rings that formed side by side (joins under heavy loss) find each other.
    /// </summary>
    private void LearnSender(RouteEntry? sender, System.Net.SocketAddress source, long now)
    {
        if (sender is not { } entry || !entry.Endpoint.Equals(SourceEndpoint(source)) || !TryPeerOf(entry.Endpoint, out int peerId) || peerId == SelfPeerId)
        {
            return;
        }

        foreach (LocalKey local in _keys)
        {
            if (local.LeafSet.WouldAdd(entry.Key))
            {
                Verify(entry.Key, peerId, now);
                return;
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    private LocalKey? FindLocal(Key256 key)
    {
        foreach (LocalKey local in _keys)
        {
            if (local.Key == key)
            {
                return local;
            }
        }

        return null;
    }

    private LocalKey NearestLocal(Key256 target)
    {
        LocalKey best = _keys[0];
        for (int i = 1; i < _keys.Count; i++)
        {
            if (Key256.CompareCloseness(target, _keys[i].Key, best.Key) < 0)
            {
                best = _keys[i];
            }
        }

        return best;
    }

    /// <summary>Keeps a few recently seen nodes for resolve-only searches (bounded; random replacement).</summary>
    private void Remember(NodeRef node)
    {
        for (int i = 0; i < _cache.Count; i++)
        {
            if (_cache[i].Key == node.Key)
            {
                _cache[i] = node;
                return;
            }
        }

        if (_cache.Count < CacheCapacity)
        {
            _cache.Add(node);
        }
        else
        {
            _cache[_random.Next(CacheCapacity)] = node;
        }
    }

    private static bool InRange(Key256 key, in Lookup lookup) =>
        lookup.Kind == LookupKind.Exact ? key == lookup.Target : Key256.IsBetween(key, lookup.Min, lookup.Max);

    private static bool Contains(ReadOnlySpan<RouteEntry> entries, Key256 key)
    {
        foreach (RouteEntry e in entries)
        {
            if (e.Key == key)
            {
                return true;
            }
        }

        return false;
    }

    private static bool Contains(ReadOnlySpan<NodeRef> nodes, Key256 key)
    {
        foreach (NodeRef n in nodes)
        {
            if (n.Key == key)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Insertion sort by closeness to the target: the spans are a few dozen long at most.</summary>
    private static void SortByCloseness(Span<NodeRef> nodes, Key256 target)
    {
        for (int i = 1; i < nodes.Length; i++)
        {
            NodeRef x = nodes[i];
            int j = i - 1;
            while (j >= 0 && Key256.CompareCloseness(target, nodes[j].Key, x.Key) > 0)
            {
                nodes[j + 1] = nodes[j];
                j--;
            }

            nodes[j + 1] = x;
        }
    }

    /// <summary>The engine-side state of one search.</summary>
    private sealed class SearchOperation(int slot, IterativeLookup lookup, Action<SearchOutcome, long> completed)
    {
        public int Slot { get; } = slot;

        public IterativeLookup Lookup { get; } = lookup;

        public Action<SearchOutcome, long> Completed { get; } = completed;

        public byte[] Nonce { get; } = new byte[WireLimits.NonceLength];

        /// <summary>Requests in flight, by message id, with the node each went to.</summary>
        public Dictionary<ulong, NodeRef> InFlight { get; } = [];

        public WireEndpoint[] PathBuffer { get; } = new WireEndpoint[WireLimits.MaxPath];

        public NodeRef[] Results { get; } = new NodeRef[WireLimits.MaxReplyEntries];

        public List<SearchResultData> Confirmed { get; } = [];

        public bool Finishing { get; set; }

        public int InquiriesOut { get; set; }

        public int Rounds { get; set; }

        /// <summary>Slot and generation: what the caller holds to continue or cancel it.</summary>
        public long Id { get; init; }

        /// <summary>Hears each hop of an iterative search.</summary>
        public Action<SearchResultData>? Intermediate { get; init; }

        /// <summary>An iterative search waiting for the caller to continue.</summary>
        public bool Paused { get; set; }
    }
}
