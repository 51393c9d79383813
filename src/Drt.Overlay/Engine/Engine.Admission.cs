using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Engine;

/// <summary>Why the admission stage refused a datagram before its body was read (a metrics drop reason).</summary>
internal enum AdmissionDrop : byte
{
    /// <summary>Not refused (the slot is unused, as <see cref="DecodeStatus.Ok"/> is among the decode drops).</summary>
    None = 0,

    /// <summary>Larger than the transport's datagram cap.</summary>
    Oversized,

    /// <summary>From the unspecified address (0.0.0.0/8 or ::): nobody can be answered there.</summary>
    UnspecifiedSource,

    /// <summary>From the IPv4 limited broadcast address.</summary>
    BroadcastSource,

    /// <summary>From a multicast address (224.0.0.0/4, ff00::/8): a source never is one.</summary>
    MulticastSource,

    /// <summary>From port 0.</summary>
    ZeroPort,

    /// <summary>From a port below 1024 while <see cref="EngineOptions.AllowPrivilegedSourcePorts"/> is off.</summary>
    PrivilegedPort,

    /// <summary>Its source's token bucket was empty.</summary>
    SourceRateLimited,

    /// <summary>The engine-wide token bucket was empty.</summary>
    GlobalRateLimited,

    /// <summary>A join handshake datagram while the handshake bucket was empty.</summary>
    HandshakeRateLimited,
}

/// <summary>
/// The admission stage of the receive path (issue 5, DESIGN §5): everything checked about a datagram before its body
/// is decoded, cheapest first — size, header (network, version), source sanity, per-source rate, handshake rate,
/// global rate. One call site, at the top of <c>Receive</c>; a datagram that passes continues to the session layer
/// (membership modes) and then to the body decoders. Also here: the anti-amplification rule for answers.
/// </summary>
/// <remarks>
/// Nothing in this stage allocates or reads a clock: the buckets are preallocated and refilled from the engine's
/// <c>now</c>. A refused datagram is counted by reason and never answered (no oracle, no reflection).
/// </remarks>
internal sealed partial class Engine
{
    /// <summary>The largest pong (IPv6 observed endpoint): a probe is padded to this, so no pong exceeds its ping.</summary>
    private const int PongMaxSize = WireHeader.Size + 1 + 9 + 2 + 18;

    /// <summary>The largest flood that answers a join request for one key (IPv6 entry, no record, no list).</summary>
    private const int JoinFloodMaxSize = WireHeader.Size + 1 + 1 + 34 + 1 + 34 + 20 + 1 + 1;

    /// <summary>An ack's size (it ends the join handshake).</summary>
    private const int AckSize = WireHeader.Size + 1 + 1;

    /// <summary>An authority without a record: what a verification's inquire is padded to.</summary>
    private const int BareAuthoritySize = WireHeader.Size + 1 + 1 + 34 + 18 + 1 + 1;

    /// <summary>One route entry in a reply at most (IPv6): key (34) and endpoint (20) in a fixarray.</summary>
    private const int MaxEntrySize = 1 + 34 + 20;

    private SourceRateLimiter _sourceLimits = null!;
    private TokenBucket _globalBucket;
    private TokenBucket _handshakeBucket;
    private long _admittedAt;

    /// <summary>Peers in the peer table (engine thread; for tests of what unproven sources may cause).</summary>
    internal int PeerCount => _peers.Count;

    /// <summary>Requests awaiting answers (engine thread; for the bounds tests).</summary>
    internal int PendingCount => _pending.Count;

    /// <summary>Reassemblies in progress (engine thread; for the bounds tests).</summary>
    internal int ReassemblyCount => _reassembler.Active;

    /// <summary>The per-source rate table (engine thread; tests check that it stays within its capacity).</summary>
    internal SourceRateLimiter SourceLimits => _sourceLimits;

    /// <summary>
    /// Builds the buckets, full, at the engine's time 0 (the constructor calls it). The table's hash seed is secret in
    /// a real node; in the simulator (seeded nonces) a constant, so that runs replay — without drawing from the seeded
    /// generators, whose sequences the rest of the engine owns.
    /// </summary>
    private void InitAdmission()
    {
        ulong seed = _nonces is null ? BinaryPrimitives.ReadUInt64LittleEndian(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8)) : 0x9E37_79B9_7F4A_7C15;
        _sourceLimits = new SourceRateLimiter(_options.MaxRateLimitedSources, _options.SourceRate, _options.SourceBurst, seed);
        _globalBucket = TokenBucket.Full(_options.GlobalRate, _options.GlobalBurst, 0);
        _handshakeBucket = TokenBucket.Full(_options.HandshakeRate, _options.HandshakeBurst, 0);
    }

    /// <summary>
    /// The admission stage: true when the datagram may be decoded, with its header. <paramref name="reassembled"/>
    /// messages only get their header read: each of their fragments was admitted (and counted) on arrival.
    /// </summary>
    private bool AdmitDatagram(ReadOnlyMemory<byte> datagram, SocketAddress source, long now, bool reassembled, out WireHeader header)
    {
        // 1. Size: the transport's cap (a socket transport already enforces it; the check is two comparisons).
        if (!reassembled && datagram.Length > _transport.MaxDatagramSize)
        {
            header = default;
            Counters.CountReceived(EngineCounters.NoHeader, datagram.Length);
            Counters.Refuse(AdmissionDrop.Oversized);
            return false;
        }

        // 2. Header: other protocols, versions and networks cost a few byte comparisons.
        DecodeStatus status = WireHeader.TryRead(datagram.Span, _context, out header);
        if (reassembled)
        {
            return status == DecodeStatus.Ok;
        }

        Counters.CountReceived(status == DecodeStatus.Ok ? header.Type : EngineCounters.NoHeader, datagram.Length);
        if (status != DecodeStatus.Ok)
        {
            Counters.Drop(status);
            return false;
        }

        // 3. Source sanity: addresses no honest sender has, and reflectors' ports.
        AdmissionDrop refusal = SourceCheck.Check(source, _options.AllowPrivilegedSourcePorts, out SourceKey key);

        // 4. Rate limits: the source's own bucket first, so a flooder's excess is refused without draining what
        // everyone shares; then the handshake bucket for the expensive first contacts; then the global one.
        if (refusal == AdmissionDrop.None && !_sourceLimits.TryTake(key, now, Counters))
        {
            refusal = AdmissionDrop.SourceRateLimited;
        }

        if (refusal == AdmissionDrop.None && header.Type is MessageType.Solicit or MessageType.Request && !_handshakeBucket.TryTake(now))
        {
            refusal = AdmissionDrop.HandshakeRateLimited;
        }

        if (refusal == AdmissionDrop.None && !_globalBucket.TryTake(now))
        {
            refusal = AdmissionDrop.GlobalRateLimited;
        }

        if (refusal != AdmissionDrop.None)
        {
            Counters.Refuse(refusal);
            return false;
        }

        _admittedAt = now;
        return true;
    }

    // ------------------------------------------------------------------ anti-amplification

    /// <summary>
    /// Whether <paramref name="address"/> has proved return routability: a peer verified by a nonce, or one that
    /// answered a request of ours (it echoed a random 64-bit message id sent to that address).
    /// </summary>
    private bool IsRoutable(SocketAddress address) => _peers.TryGet(address, out int id) && (_peers[id].Verified || _peers[id].Routable);

    /// <summary>The size of <paramref name="message"/> as a datagram (encodes it into the send buffer).</summary>
    private int EncodedSize<T>(in T message)
        where T : struct, IWireMessage<T>
        => WireCodec.Encode(WireHeader.Create(_context, T.Type, 0), message, _out).Length;

    /// <summary>
    /// Answers a request of <paramref name="requestBytes"/> bytes. To an address that has not proved return
    /// routability the answer is never larger than the request: one that would be is replaced by error 3 (too large)
    /// when that fits, and otherwise not sent. A requester that wants a large answer pads its request.
    /// </summary>
    private void Reply<T>(in T message, in WireHeader request, int requestBytes, SocketAddress source, bool maintenance = false)
        where T : struct, IWireMessage<T>
    {
        if (!IsRoutable(source) && EncodedSize(message) > requestBytes)
        {
            Counters.AmplificationLimited++;
            if (T.Type == MessageType.Authority)
            {
                // An owner's answer too large for the inquire (a record with kilobytes of data): prove the searcher's
                // address with a probe first — its pong makes it routable — then refuse; the searcher asks again.
                ProveRoutability(source, _admittedAt);
            }

            var error = new Error(ErrorCode.TooLarge, 0);
            if (T.Type != MessageType.Error && EncodedSize(error) <= requestBytes)
            {
                Send(error, request.MessageId, source);
            }

            return;
        }

        Send(message, request.MessageId, source, maintenance);
    }

    /// <summary>
    /// Probes <paramref name="address"/> so that its pong proves it receives there. Costs a peer-table entry and a
    /// pending request (both bounded); the probe is smaller than the inquire that caused it.
    /// </summary>
    private void ProveRoutability(SocketAddress address, long now)
    {
        if (WireEndpoint.TryFromSocketAddress(address, out WireEndpoint endpoint) && TryPeerOf(endpoint, out int peerId) && peerId != SelfPeerId)
        {
            SendProbe(peerId, attempt: _options.MaxAttempts - 1, NewMessageId(), now); // one transmission: the searcher retries
        }
    }

    /// <summary>
    /// A lookup reply of the first <paramref name="count"/> reply entries (nearest first): to an unproven address, the
    /// farthest are left out until it fits the lookup (DRT-like: the searcher still gets the best entries).
    /// </summary>
    private void ReplyLookup(LookupReplyFlags flags, int count, in WireHeader request, int requestBytes, SocketAddress source)
    {
        var reply = new LookupReply(flags, new WireList<RouteEntry>(_replyEntries.AsMemory(0, count)));
        if (!IsRoutable(source) && EncodedSize(reply) > requestBytes)
        {
            Counters.AmplificationLimited++;
            while (count > 0 && EncodedSize(reply) > requestBytes)
            {
                count--;
                reply = new LookupReply(flags, new WireList<RouteEntry>(_replyEntries.AsMemory(0, count)));
            }
        }

        Reply(reply, request, requestBytes, source);
    }

    /// <summary>A leaf-set reply, cut for an unproven address as a lookup reply is: the far members go first.</summary>
    private void ReplyLeafSet(LeafSetReplyFlags flags, Key256 key, int left, int right, in WireHeader request, int requestBytes, SocketAddress source)
    {
        var reply = new LeafSetReply(flags, key, new WireList<RouteEntry>(_leftEntries.AsMemory(0, left)), new WireList<RouteEntry>(_rightEntries.AsMemory(0, right)));
        if (!IsRoutable(source) && EncodedSize(reply) > requestBytes)
        {
            Counters.AmplificationLimited++;
            while ((left > 0 || right > 0) && EncodedSize(reply) > requestBytes)
            {
                if (left >= right)
                {
                    left--;
                }
                else
                {
                    right--;
                }

                reply = new LeafSetReply(flags, key, new WireList<RouteEntry>(_leftEntries.AsMemory(0, left)), new WireList<RouteEntry>(_rightEntries.AsMemory(0, right)));
            }
        }

        Reply(reply, request, requestBytes, source, maintenance: true);
    }

    /// <summary>
    /// What a leaf-set request of <paramref name="local"/> is padded to: while the key joins, the members it asks may
    /// not have proved its address yet, so it pays for their whole answer; a placed key's neighbours hold it verified.
    /// </summary>
    private int LeafSetPadding(LocalKey local) => local.Joining || !local.Placed
        ? Math.Min(_transport.MaxDatagramSize, WireHeader.Size + 1 + 1 + 34 + 2 + (2 * _options.LeafSetSide * MaxEntrySize))
        : 0;

    /// <summary>
    /// What a lookup asking for <paramref name="want"/> results is padded to: the largest reply it can get (a covering
    /// answer of want + 2 in range and the nearest overall, or the referrals), capped by the datagram size.
    /// </summary>
    private int LookupPadding(int want)
    {
        int entries = Math.Min(WireLimits.MaxReplyEntries, Math.Max(Math.Min(want + 2, WireLimits.MaxReplyEntries - NearestOverall) + NearestOverall, Math.Max(MaxReferrals, want)));
        return Math.Min(_transport.MaxDatagramSize, WireHeader.Size + 1 + 1 + 3 + (entries * MaxEntrySize));
    }
}

/// <summary>
/// A source address in one form for both families: the IPv6 address (IPv4 as IPv4-mapped) in two limbs and the port.
/// </summary>
internal readonly record struct SourceKey(ulong High, ulong Low, ushort Port);

/// <summary>Source sanity: the addresses and ports no honest overlay node sends from. Allocation-free.</summary>
internal static class SourceCheck
{
    private const ulong V4MappedHigh = 0;
    private const ulong V4MappedPrefix = 0x0000_FFFF_0000_0000;

    /// <summary>
    /// Reads <paramref name="source"/> into <paramref name="key"/> and refuses the unspecified, broadcast and
    /// multicast addresses, port 0 and (unless allowed) ports below 1024.
    /// </summary>
    public static AdmissionDrop Check(SocketAddress source, bool allowPrivilegedPorts, out SourceKey key)
    {
        ReadOnlySpan<byte> bytes = source.Buffer.Span[..source.Size];
        ushort port;
        ulong high;
        ulong low;
        if (source.Family == AddressFamily.InterNetwork && bytes.Length >= 8)
        {
            // sockaddr_in: family (2), port (2), address (4).
            port = BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]);
            high = V4MappedHigh;
            low = V4MappedPrefix | BinaryPrimitives.ReadUInt32BigEndian(bytes[4..]);
        }
        else if (source.Family == AddressFamily.InterNetworkV6 && bytes.Length >= 24)
        {
            // sockaddr_in6: family (2), port (2), flow info (4), address (16), scope id (4).
            port = BinaryPrimitives.ReadUInt16BigEndian(bytes[2..]);
            high = BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]);
            low = BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]);
        }
        else
        {
            key = default;
            return AdmissionDrop.UnspecifiedSource;
        }

        key = new SourceKey(high, low, port);
        if (high == V4MappedHigh && (low >> 32) == 0xFFFF)
        {
            uint v4 = (uint)low;
            if ((v4 >> 24) == 0)
            {
                return AdmissionDrop.UnspecifiedSource; // 0.0.0.0/8: "this network", never a source on the wire
            }

            if (v4 == uint.MaxValue)
            {
                return AdmissionDrop.BroadcastSource;
            }

            if ((v4 >> 28) == 0xE)
            {
                return AdmissionDrop.MulticastSource;
            }
        }
        else if (high == 0 && low == 0)
        {
            return AdmissionDrop.UnspecifiedSource;
        }
        else if ((high >> 56) == 0xFF)
        {
            return AdmissionDrop.MulticastSource;
        }

        if (port == 0)
        {
            return AdmissionDrop.ZeroPort;
        }

        return port < 1024 && !allowPrivilegedPorts ? AdmissionDrop.PrivilegedPort : AdmissionDrop.None;
    }

    /// <summary>The check for an <see cref="IPEndPoint"/> (tests and tools; allocates).</summary>
    public static AdmissionDrop Check(IPEndPoint endPoint, bool allowPrivilegedPorts) => Check(endPoint.Serialize(), allowPrivilegedPorts, out _);
}

/// <summary>
/// A token bucket in fixed point: one datagram costs <see cref="Scale"/> units, and <c>rate</c> units are added per
/// microsecond of the engine's clock (rate per second × 10⁻⁶ datagrams per µs × 10⁶ units), up to the burst.
/// </summary>
internal struct TokenBucket
{
    /// <summary>The highest rate or burst a bucket takes (per second), so that no product overflows.</summary>
    public const int MaxRate = 1_000_000;

    private const long Scale = 1_000_000;

    private long _tokens;
    private long _last;
    private int _rate;
    private long _capacity;

    /// <summary>A full bucket of <paramref name="burst"/> datagrams refilling at <paramref name="rate"/> per second.</summary>
    public static TokenBucket Full(int rate, int burst, long now) => new()
    {
        _rate = rate,
        _capacity = burst * Scale,
        _tokens = burst * Scale,
        _last = now,
    };

    /// <summary>Datagrams the bucket holds now (after refilling to <paramref name="now"/>), rounded down.</summary>
    public long Available(long now)
    {
        Refill(now);
        return _tokens / Scale;
    }

    /// <summary>Takes one datagram's tokens if there are enough.</summary>
    public bool TryTake(long now)
    {
        Refill(now);
        if (_tokens < Scale)
        {
            return false;
        }

        _tokens -= Scale;
        return true;
    }

    private void Refill(long now)
    {
        long elapsed = now - _last;
        if (elapsed <= 0)
        {
            return; // the clock never runs back; equal times add nothing
        }

        _last = now;

        // Clamped first: an idle hour times a million per second would overflow nothing, but a year might.
        long add = Math.Min(elapsed, _capacity / _rate + 1) * _rate;
        _tokens = Math.Min(_capacity, _tokens + add);
    }
}

/// <summary>
/// Per-source token buckets in a fixed, preallocated table: 4-way set-associative, sets chosen by a keyed hash (so
/// an attacker cannot aim addresses at one set without knowing the seed). A new source takes the way idle longest
/// in its set, starting with a full bucket: eviction can only make the table more lenient towards a source, never
/// refuse an honest one, and the global bucket bounds the total. No allocation after construction.
/// </summary>
internal sealed class SourceRateLimiter
{
    private const int Ways = 4;

    private readonly Slot[] _slots;
    private readonly int _setMask;
    private readonly int _rate;
    private readonly int _burst;
    private readonly ulong _seed;

    /// <summary>A table for about <paramref name="capacity"/> sources (rounded up to a power of two times 4).</summary>
    public SourceRateLimiter(int capacity, int rate, int burst, ulong seed)
    {
        int sets = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, (capacity + Ways - 1) / Ways));
        _slots = new Slot[sets * Ways];
        _setMask = sets - 1;
        _rate = rate;
        _burst = burst;
        _seed = seed;
    }

    /// <summary>The most sources tracked at once.</summary>
    public int Capacity => _slots.Length;

    /// <summary>Sources tracked now (a walk of the table: for tests).</summary>
    public int Count
    {
        get
        {
            int n = 0;
            foreach (Slot slot in _slots)
            {
                n += slot.Used ? 1 : 0;
            }

            return n;
        }
    }

    /// <summary>Takes one datagram from <paramref name="key"/>'s bucket, adding the source when it is new.</summary>
    public bool TryTake(in SourceKey key, long now, EngineCounters counters)
    {
        int set = (int)(Mix(key.High ^ _seed) ^ Mix(key.Low + _seed) ^ Mix(key.Port ^ ~_seed)) & _setMask;
        int first = set * Ways;
        int victim = first;
        for (int i = first; i < first + Ways; i++)
        {
            ref Slot slot = ref _slots[i];
            if (slot.Used && slot.Key == key)
            {
                slot.LastSeen = now;
                return slot.Bucket.TryTake(now);
            }

            if (!slot.Used)
            {
                victim = _slots[victim].Used ? i : victim;
            }
            else if (_slots[victim].Used && slot.LastSeen < _slots[victim].LastSeen)
            {
                victim = i;
            }
        }

        ref Slot taken = ref _slots[victim];
        if (taken.Used)
        {
            counters.RateLimiterEvictions++;
        }

        taken = new Slot { Used = true, Key = key, LastSeen = now, Bucket = TokenBucket.Full(_rate, _burst, now) };
        return taken.Bucket.TryTake(now);
    }

    /// <summary>SplitMix64's finalizer: every input bit reaches every output bit.</summary>
    private static ulong Mix(ulong x)
    {
        x ^= x >> 30;
        x *= 0xBF58_476D_1CE4_E5B9;
        x ^= x >> 27;
        x *= 0x94D0_49BB_1331_11EB;
        return x ^ (x >> 31);
    }

    private struct Slot
    {
        public SourceKey Key;
        public TokenBucket Bucket;
        public long LastSeen;
        public bool Used;
    }
}
