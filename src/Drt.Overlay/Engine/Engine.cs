using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Drt.Overlay.Routing;
using Drt.Overlay.Transport;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Fragmentation;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Engine;

/// <summary>
/// One instance's protocol engine: a single-threaded state machine driven by datagrams, wake-ups (queued
/// commands and due deadlines) and nothing else. See docs/engine.md for the threading model.
/// </summary>
/// <remarks>
/// <para>
/// Every method except <see cref="Post"/> runs on the transport's delivery thread, so no state here is locked.
/// <c>now</c> is read once per input, in microseconds since the engine was built, and passed down.
/// </para>
/// <para>
/// Split by concern: this file holds the receive path, sending and the request/timer machinery;
/// <c>Engine.Liveness.cs</c> probes, <c>Engine.Search.cs</c> searches and the answers to them.
/// </para>
/// </remarks>
internal sealed partial class Engine : IDatagramReceiver
{
    /// <summary>The peer id that stands for this instance in <see cref="NodeRef"/>s.</summary>
    public const int SelfPeerId = -1;

    private readonly EngineOptions _options;
    private readonly IDatagramTransport _transport;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly RandomNumberGenerator? _nonces;
    private readonly WireContext _context;
    private readonly long _epoch;
    private readonly PeerTable _peers;
    private readonly PendingRequests _pending;
    private readonly PooledBufferWriter _out = new(4096);
    private readonly PooledBufferWriter _fragmentOut = new(WireLimits.DefaultMaxDatagram);
    private readonly Reassembler _reassembler = new();
    private readonly ConcurrentQueue<Action<long>> _commands = new();
    private readonly PendingRequest[] _expired = new PendingRequest[64];
    private readonly List<LocalKey> _keys = [];
    private readonly SocketAddress _scratchAddress;
    private readonly SocketAddress _scratchV4 = new(AddressFamily.InterNetwork);
    private ITimer? _timer;
    private long _armedFor = long.MaxValue;
    private int _timerFired;
    private WireEndpoint _selfEndpoint;

    /// <summary>
    /// Every endpoint the transport receives on, as peers see them (the first is <see cref="_selfEndpoint"/>): all of
    /// them are this instance's own, and records list the first <see cref="EngineOptions.MaxAdvertisedEndpoints"/>.
    /// </summary>
    private WireEndpoint[] _selfEndpoints = [];

    /// <summary>The endpoints a record of ours lists: a prefix of <see cref="_selfEndpoints"/>, fixed from Start on.</summary>
    private ReadOnlyMemory<WireEndpoint> _advertisedEndpoints;
    private long _snapshotDue;
    private bool _snapshotStale = true;

    /// <summary>Builds an engine over <paramref name="transport"/>; call <see cref="Start"/> to run it.</summary>
    /// <param name="options">Validated settings.</param>
    /// <param name="transport">Where datagrams come and go; the engine runs on its delivery thread.</param>
    /// <param name="time">The clock (virtual in the simulator).</param>
    /// <param name="random">
    /// Message ids, jitter and choices among equals. Seeded in tests and the simulator; unpredictable (unseeded) in
    /// a real node, since a message id is what ties an answer to its request.
    /// </param>
    /// <param name="nonces">
    /// Where proof-of-liveness nonces come from: the operating system's generator when null. The simulator passes a
    /// seeded generator so that a run replays byte for byte; a real node must not.
    /// </param>
    public Engine(EngineOptions options, IDatagramTransport transport, TimeProvider time, Random random, RandomNumberGenerator? nonces = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(random);
        options.Validate();
        _options = options;
        _bootstrap = options.Bootstrap;
        _transport = transport;
        _time = time;
        _random = random;
        _nonces = nonces;
        _context = options.WireContext;
        _epoch = time.GetTimestamp();
        _peers = new PeerTable(options.MaxPeers);
        _pending = new PendingRequests(options.MaxPending);
        _scratchAddress = new SocketAddress(transport.AddressFamily == AddressFamily.InterNetworkV6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork);
        _searchSlots = new SearchOperation?[options.MaxSearches];
        InitAdmission();
        InitializeRecords(options, time);
        InitSessions(options, time);
    }

    /// <summary>How often, at most, the engine republishes <see cref="Snapshot"/> when nothing marked it stale: 0.25 s.</summary>
    public const long SnapshotPeriodMicros = 250_000;

    /// <summary>What the engine saw and did.</summary>
    public EngineCounters Counters { get; } = new();

    /// <summary>The sizes of the engine's tables, for readers on other threads.</summary>
    public EngineSnapshot Snapshot { get; } = new();

    /// <summary>
    /// Where this instance receives, as peers see it: the first local endpoint. Route entries carry this one alone (a
    /// node is one address in others' tables); records list every local endpoint up to
    /// <see cref="EngineOptions.MaxAdvertisedEndpoints"/>.
    /// </summary>
    public WireEndpoint SelfEndpoint => _selfEndpoint;

    /// <summary>Keys registered here (engine thread only).</summary>
    public IReadOnlyList<LocalKey> Keys => _keys;

    /// <summary>Starts receiving and arms the engine's timer.</summary>
    public void Start()
    {
        _transport.Start(this);
        IReadOnlyList<IPEndPoint> locals = _transport.LocalEndpoints;
        _selfEndpoints = new WireEndpoint[locals.Count];
        for (int i = 0; i < _selfEndpoints.Length; i++)
        {
            IPEndPoint local = locals[i];
            _selfEndpoints[i] = WireEndpoint.FromIPEndPoint(local.Address.Equals(IPAddress.IPv6Any) || local.Address.Equals(IPAddress.Any)
                ? new IPEndPoint(local.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback, local.Port)
                : local);
        }

        _selfEndpoint = _selfEndpoints[0];
        _advertisedEndpoints = _selfEndpoints.AsMemory(0, Math.Min(_selfEndpoints.Length, _options.MaxAdvertisedEndpoints));
        _timer = _time.CreateTimer(
            static state =>
            {
                var engine = (Engine)state!;
                Volatile.Write(ref engine._timerFired, 1);
                engine._transport.Wake();
            },
            this,
            Timeout.InfiniteTimeSpan,
            Timeout.InfiniteTimeSpan);
    }

    /// <summary>Stops the timer and closes the transport.</summary>
    public async ValueTask StopAsync()
    {
        _timer?.Dispose();
        await _transport.CloseAsync().ConfigureAwait(false);
        _out.Dispose();
        _fragmentOut.Dispose();
        _reassembler.Dispose();
        DisposeSessions();
        _pairKeys?.Dispose();
    }

    /// <summary>
    /// Runs <paramref name="command"/> on the engine's thread, soon, with the current time. Safe from any thread:
    /// this is how the API talks to the engine.
    /// </summary>
    public void Post(Action<long> command)
    {
        _commands.Enqueue(command);
        _transport.Wake();
    }

    /// <inheritdoc/>
    void IDatagramReceiver.OnDatagram(ReadOnlyMemory<byte> datagram, SocketAddress source)
    {
        long now = Now();
        _inputNow = now;
        _peers.Now = now;
        Counters.Received++;
        if (Status == EngineStatus.Faulted)
        {
            return;
        }

        try
        {
            _consecutiveSendFailures = 0; // something reaches us: the network is there
            Receive(datagram, source, now);
            Service(now);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            Fault(error); // a bug, never the datagram's fault: decoding reports bad input without throwing
        }
    }

    /// <inheritdoc/>
    void IDatagramReceiver.OnWake()
    {
        long now = Now();
        _inputNow = now;
        _peers.Now = now;

        // Bounded: commands posted while draining wait for the next wake rather than starving datagrams. A command that
        // throws DrtException (API misuse) reports it itself; anything else faults the engine.
        for (int i = _commands.Count; i > 0 && _commands.TryDequeue(out Action<long>? command); i--)
        {
            try
            {
                command(now);
            }
            catch (DrtException)
            {
                throw;
            }
            catch (Exception error) when (error is not OutOfMemoryException)
            {
                Fault(error);
            }
        }

        if (Status == EngineStatus.Faulted)
        {
            return;
        }

        try
        {
            Service(now);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            Fault(error);
        }
    }

    /// <summary>Fills <paramref name="nonce"/> with fresh unpredictable bytes (seeded in the simulator).</summary>
    private void FillNonce(Span<byte> nonce)
    {
        if (_nonces is null)
        {
            RandomNumberGenerator.Fill(nonce);
        }
        else
        {
            _nonces.GetBytes(nonce);
        }
    }

    /// <summary>The engine's clock: microseconds since it was built. Read once per input and passed down.</summary>
    public long Now() => _time.GetElapsedTime(_epoch).Ticks / TimeSpan.TicksPerMicrosecond;

    // ------------------------------------------------------------------ receive

    /// <summary>
    /// Receives one datagram, or (<paramref name="reassembled"/>) a message its fragments made, which is not counted by
    /// type again: the per-type counts are of datagrams as they arrived.
    /// </summary>
    private void Receive(ReadOnlyMemory<byte> datagram, SocketAddress source, long now, bool reassembled = false)
    {
        // Admission (Engine.Admission.cs), cheapest check first: size, header, source sanity, rate limits.
        if (!AdmitDatagram(datagram, source, now, reassembled, out WireHeader header))
        {
            return;
        }

        // Membership modes: hellos are served, everything else opened or dropped, before any body is read (Engine.Sessions.cs).
        if (_sealing && !reassembled && !TryOpenReceived(ref datagram, header, source, now))
        {
            return;
        }

        switch (header.Type)
        {
            case MessageType.Ping:
                OnPing(datagram, header, source);
                break;
            case MessageType.Pong:
                OnPong(datagram, header, source, now);
                break;
            case MessageType.Lookup:
                OnLookup(datagram, header, source, now);
                break;
            case MessageType.LookupReply:
                OnLookupReply(datagram, header, source, now);
                break;
            case MessageType.Inquire:
                OnInquire(datagram, header, source, now);
                break;
            case MessageType.Authority:
                OnAuthority(datagram, header, source, now);
                break;
            case MessageType.Error:
                OnError(datagram, header, source, now);
                break;
            case MessageType.Fragment:
                OnFragment(datagram, header, source, now);
                break;
            case MessageType.Route:
                OnRoute(datagram, header, source, now);
                break;
            case MessageType.RouteAck:
                OnRouteAck(datagram, header, source, now);
                break;
            case MessageType.Solicit:
                OnSolicit(datagram, header, source);
                break;
            case MessageType.Advertise:
                OnAdvertise(datagram, header, source, now);
                break;
            case MessageType.Request:
                OnRequest(datagram, header, source);
                break;
            case MessageType.Ack:
                OnAck(datagram, header, source, now);
                break;
            case MessageType.Flood:
                OnFlood(datagram, header, source, now);
                break;
            case MessageType.LeafSetRequest:
                OnLeafSetRequest(datagram, header, source, now);
                break;
            case MessageType.LeafSetReply:
                OnLeafSetReply(datagram, header, source, now);
                break;
            default:
                // Known to the wire, not (yet) served by this engine: counted, never answered.
                Counters.Drop(DecodeStatus.UnknownType);
                break;
        }
    }

    /// <summary>Decodes a body, counting failures.</summary>
    private bool TryDecode<T>(ReadOnlyMemory<byte> datagram, in WireHeader header, out T message)
        where T : struct, IWireMessage<T>
    {
        DecodeStatus status = WireCodec.TryDecode(datagram, header, out message);
        if (status == DecodeStatus.Ok)
        {
            return true;
        }

        Counters.Drop(status);
        return false;
    }

    /// <summary>
    /// Matches an answer to the request it answers: same message id, from the peer that was asked. Updates the
    /// peer's RTT (first transmissions only: Karn's rule) and liveness.
    /// </summary>
    private bool TryMatch(in WireHeader header, SocketAddress source, long now, out PendingRequest request)
    {
        request = default;
        if (!_peers.TryGet(source, out int peerId) || _pending.TryComplete(header.MessageId, peerId, out request) != CompleteResult.Completed)
        {
            Counters.Unsolicited++;
            return false;
        }

        ref Peer peer = ref _peers[peerId];
        if (request.Attempt == 0)
        {
            peer.Rtt.AddSample((int)Math.Min(now - request.SentAt, int.MaxValue));
        }

        peer.LastHeard = now;
        peer.ConsecutiveTimeouts = 0;
        peer.Routable = true; // it echoed a random id we sent to this address: return routability (anti-amplification)
        return true;
    }

    private void OnError(ReadOnlyMemory<byte> datagram, in WireHeader header, SocketAddress source, long now)
    {
        if (TryDecode(datagram, header, out Error error) && TryMatch(header, source, now, out PendingRequest request))
        {
            OnRefused(request, error, now);
        }
    }

    // ------------------------------------------------------------------ send

    /// <summary>
    /// Encodes and sends one datagram; counts it. <paramref name="padTo"/>: pad a request to that many bytes (capped
    /// by the datagram size) so that its answer may be as large (anti-amplification, docs/protocol.md). In membership
    /// modes nothing is padded: every datagram but a hello is sealed, and one that opens proves our address to the
    /// receiver (Engine.Sessions.cs), so its answer is never cut.
    /// </summary>
    private bool Send<T>(in T message, ulong messageId, SocketAddress destination, bool maintenance = false, int padTo = 0)
        where T : struct, IWireMessage<T>
    {
        ReadOnlySpan<byte> datagram = WireCodec.Encode(WireHeader.Create(_context, T.Type, messageId), message, _out);
        if (padTo > datagram.Length && !_sealing)
        {
            datagram = WireCodec.Pad(_out, Math.Min(padTo, MaxPayload));
        }

        if (datagram.Length <= MaxPayload)
        {
            return SendDatagram(datagram, T.Type, destination, maintenance);
        }

        // Too large for one datagram (a record with kilobytes of data): fragments, each of which is counted. In membership
        // modes each fragment is sealed, so the cap leaves room for the trailer.
        int count = Fragmenter.FragmentCount(datagram.Length, MaxPayload);
        bool sent = true;
        for (int i = 0; i < count && sent; i++)
        {
            sent = SendDatagram(Fragmenter.Write(datagram, i, MaxPayload, _fragmentOut), MessageType.Fragment, destination, maintenance);
        }

        Counters.FragmentedSends++;
        return sent;
    }

    private bool SendDatagram(ReadOnlySpan<byte> datagram, MessageType type, SocketAddress destination, bool maintenance)
    {
        // Membership modes: sealed, or held while the peer's session is negotiated (Engine.Sessions.cs).
        if (_sealing && !TrySealOutgoing(ref datagram, type, destination, maintenance, out bool accepted))
        {
            return accepted;
        }

        bool sent = _transport.TrySend(datagram, destination);
        OnSendResult(sent);
        if (!sent)
        {
            Counters.SendFailures++;
            return false;
        }

        Counters.Sent++;
        Counters.SentBytes += datagram.Length;
        Counters.CountSent(type, datagram.Length);
        if (maintenance)
        {
            Counters.MaintenanceSent++;
            Counters.MaintenanceBytes += datagram.Length;
        }

        return true;
    }

    /// <summary>A fragment arrived: store it, and when its message is complete, receive the whole as one datagram.</summary>
    private void OnFragment(ReadOnlyMemory<byte> datagram, in WireHeader header, SocketAddress source, long now)
    {
        if (!TryDecode(datagram, header, out Fragment fragment))
        {
            return;
        }

        ReassemblyResult result = _reassembler.Accept(source, header.MessageId, fragment, now, out ReadOnlyMemory<byte> whole);
        if (result == ReassemblyResult.Completed)
        {
            // The reassembler guarantees the whole is not itself a fragment, so this recursion is one level deep.
            Receive(whole, source, now, reassembled: true);
        }
        else if (result is ReassemblyResult.Inconsistent or ReassemblyResult.TooManyFragments)
        {
            Counters.Drop(DecodeStatus.Malformed);
        }
    }

    /// <summary>A fresh random message id (0 is never used, so a default id is never valid).</summary>
    private ulong NewMessageId()
    {
        ulong id;
        do
        {
            id = (ulong)_random.NextInt64() ^ ((ulong)_random.Next() << 63);
        }
        while (id == 0 || _pending.TryGet(id, out _));

        return id;
    }

    /// <summary>
    /// Sends a request to a peer and tracks it: the deadline is the peer's RTO (RFC 6298), doubled per attempt.
    /// Returns false when the pending table is full or the send failed (the caller treats it as a timeout).
    /// </summary>
    private bool SendRequest<T>(in T message, int peerId, RequestKind kind, int owner, int attempt, ulong messageId, long now, bool maintenance = false, int padTo = 0)
        where T : struct, IWireMessage<T>
    {
        ref Peer peer = ref _peers[peerId];
        long rto = peer.Rtt.RtoMicros; // already backed off by every timeout of this peer (RFC 6298 5.5)
        var request = new PendingRequest
        {
            MessageId = messageId,
            PeerId = peerId,
            Kind = (byte)kind,
            Owner = owner,
            Attempt = attempt,
            SentAt = now,
            Deadline = now + Math.Min(rto, RttEstimator.CapMicros),
        };

        if (!_pending.TryAdd(request))
        {
            return false;
        }

        if (!Send(message, messageId, peer.Address, maintenance, padTo))
        {
            _pending.Remove(messageId);
            return false;
        }

        return true;
    }

    /// <summary>The peer id for an endpoint learned from the wire, adding the peer when new.</summary>
    private bool TryPeerOf(in WireEndpoint endpoint, out int peerId)
    {
        if (IsOwnEndpoint(endpoint))
        {
            peerId = SelfPeerId;
            return true;
        }

        if (endpoint.IsIPv6 && _scratchAddress.Family != AddressFamily.InterNetworkV6)
        {
            peerId = -1;
            return false; // an IPv4-only transport cannot reach it
        }

        // One address form per peer: IPv4 peers as IPv4 even on a dual-stack transport, which reports their
        // datagrams' sources that way and maps them itself when sending.
        SocketAddress scratch = endpoint.IsIPv6 ? _scratchAddress : _scratchV4;
        endpoint.WriteTo(scratch);
        return _peers.TryGetOrAdd(scratch, out peerId, out _) || TryAddAfterCollect(scratch, out peerId);
    }

    /// <summary>Whether <paramref name="endpoint"/> is one of this instance's (a record of ours lists them all).</summary>
    private bool IsOwnEndpoint(in WireEndpoint endpoint)
    {
        for (int i = 0; i < _selfEndpoints.Length; i++)
        {
            if (endpoint == _selfEndpoints[i])
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The endpoints of our records, for a search result that finds a local key.</summary>
    private List<IPEndPoint> AdvertisedEndpoints()
    {
        var endpoints = new List<IPEndPoint>(_advertisedEndpoints.Length);
        foreach (WireEndpoint endpoint in _advertisedEndpoints.Span)
        {
            endpoints.Add(endpoint.ToIPEndPoint());
        }

        return endpoints;
    }

    /// <summary>The endpoint of a peer (or of this instance) as it goes on the wire.</summary>
    private WireEndpoint EndpointOf(int peerId)
    {
        if (peerId == SelfPeerId)
        {
            return _selfEndpoint;
        }

        return WireEndpoint.TryFromSocketAddress(_peers[peerId].Address, out WireEndpoint endpoint) ? endpoint : default;
    }

    // ------------------------------------------------------------------ time

    /// <summary>Runs what is due and re-arms the one timer for the earliest remaining deadline.</summary>
    private void Service(long now)
    {
        // A real timer may fire a little before the engine's clock reaches the deadline it was armed for: once it has
        // fired it is disarmed whatever the clock says, or the engine would never wake again.
        if (now >= _armedFor || Interlocked.Exchange(ref _timerFired, 0) == 1)
        {
            _armedFor = long.MaxValue; // it fired (or is about to): re-armed below
        }

        int expired;
        do
        {
            expired = _pending.TakeExpired(now, _expired);
            for (int i = 0; i < expired; i++)
            {
                Counters.Timeouts++;
                ref Peer peer = ref _peers[_expired[i].PeerId];
                peer.Rtt.OnTimeout();
                peer.ConsecutiveTimeouts++;
                OnTimeout(_expired[i], now);
            }
        }
        while (expired == _expired.Length);

        long next = Maintain(now);
        if (_reassembler.Active > 0)
        {
            _reassembler.Expire(now);
            next = Math.Min(next, _reassembler.NextExpiry);
        }

        if (_pending.TryPeekDeadline(out long pendingNext))
        {
            next = Math.Min(next, pendingNext);
        }

        UpdateStatus(now); // first: losing the last peer schedules a re-bootstrap now
        next = Math.Min(next, Rebootstrap(now));
        next = Math.Min(next, ConfirmJoins(now));
        next = Math.Min(next, RepairLeafSets(now));
        next = Math.Min(next, RenewRecords(now));
        next = Math.Min(next, ServiceSessions(now));

        if (next != long.MaxValue && next < _armedFor)
        {
            _armedFor = next;
            _timer?.Change(TimeSpan.FromMicroseconds(Math.Max(next - now, 1)), Timeout.InfiniteTimeSpan);
        }

        PublishSnapshot(now);
    }

    /// <summary>
    /// Copies the table sizes into <see cref="Snapshot"/> when a key or a leaf set changed, or when the last copy is
    /// older than <see cref="SnapshotPeriodMicros"/> (routing tables change in many places; this bounds how stale they
    /// look). One comparison per input otherwise; the sums walk the keys only, not the tables.
    /// </summary>
    private void PublishSnapshot(long now)
    {
        if (!_snapshotStale && now < _snapshotDue)
        {
            return;
        }

        _snapshotStale = false;
        _snapshotDue = now + SnapshotPeriodMicros;
        int leafSetMembers = 0;
        int routingEntries = 0;
        foreach (LocalKey local in _keys)
        {
            leafSetMembers += local.LeafSet.Smaller.Length + local.LeafSet.Larger.Length;
            routingEntries += local.Routes.Count;
        }

        Snapshot.Publish(leafSetMembers, routingEntries);
    }

    private void OnTimeout(in PendingRequest request, long now)
    {
        switch ((RequestKind)request.Kind)
        {
            case RequestKind.Probe:
                OnProbeTimeout(request, now);
                break;
            case RequestKind.Lookup:
            case RequestKind.Inquire:
                OnSearchRequestTimeout(request, now);
                break;
            case RequestKind.Verify:
                OnVerifyTimeout(request, now);
                break;
            case RequestKind.Route:
                OnRouteTimeout(request, now);
                break;
            case RequestKind.LeafSet:
                if (request.Attempt + 1 < DeathAttempts && _peers[request.PeerId].Address is not null)
                {
                    // The same request again (same id): the neighbour may answer any copy.
                    RetryLeafSet(request, now);
                }
                else
                {
                    DeclareDead(request.PeerId, now, tell: true);
                }

                break;
            case RequestKind.Refresh:
            case RequestKind.Solicit:
            case RequestKind.JoinRequest:
                // Maintenance asks again: the next refresh round (probably someone else), or a join while not joined.
                break;
        }
    }

    private void OnRefused(in PendingRequest request, in Error error, long now)
    {
        switch ((RequestKind)request.Kind)
        {
            case RequestKind.Lookup:
            case RequestKind.Inquire:
                OnSearchRequestRefused(request, error, now);
                break;
            case RequestKind.Route:
                OnRouteTimeout(request, now); // busy or resolve-only: an alternative at once
                break;
            case RequestKind.Verify:
                OnVerifyRefused(request, error, now);
                break;
            default:
                break;
        }
    }

    // ------------------------------------------------------------------ keys and contacts

    /// <summary>
    /// Admits a remote key at <paramref name="endpoint"/> into every local key's leaf set and routing table and
    /// into the resolver cache (engine thread). The join and maintenance protocols call this once an entry has
    /// proved itself; tools and tests use it to seed a static ring.
    /// </summary>
    public void Admit(Key256 key, IPEndPoint endpoint, int rttMicros = 0)
    {
        if (!TryPeerOf(WireEndpoint.FromIPEndPoint(endpoint), out int peerId) || peerId == SelfPeerId)
        {
            return;
        }

        ref Peer peer = ref _peers[peerId];
        peer.Verified = true;
        var node = new NodeRef(key, peerId);
        foreach (LocalKey local in _keys)
        {
            local.LeafSet.TryAdd(node);
            local.Routes.TryAdd(new RoutingEntry(node, rttMicros > 0 ? rttMicros : peer.Rtt.SmoothedMicros, peer.Subnet));
        }

        Remember(node);
    }

    private enum RequestKind : byte
    {
        Probe = 1,
        Lookup = 2,
        Inquire = 3,
        Verify = 4,
        LeafSet = 5,
        Solicit = 6,
        JoinRequest = 7,
        Route = 8,
        Refresh = 9,
    }
}
