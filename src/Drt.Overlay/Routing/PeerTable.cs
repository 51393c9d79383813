using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Drt.Overlay.Routing;

/// <summary>What the engine knows of one remote address.</summary>
internal struct Peer
{
    /// <summary>The peer's address: the table's own copy, never the transport's reused one.</summary>
    public SocketAddress Address;

    /// <summary>Round-trip time and retransmission timeout.</summary>
    public RttEstimator Rtt;

    /// <summary>The /24 (IPv4) or /48 (IPv6) the address lies in, for per-subnet caps.</summary>
    public ulong Subnet;

    /// <summary>When we last heard from it, in <see cref="TimeProvider"/> timestamp units; 0 = never.</summary>
    public long LastHeard;

    /// <summary>Requests to it that went unanswered in a row.</summary>
    public int ConsecutiveTimeouts;

    /// <summary>It answered a fresh nonce from this address: return routability proven.</summary>
    public bool Verified;

    /// <summary>
    /// It answered a request of ours from this address (echoing its random message id): return routability proven,
    /// so answers to it may be larger than its requests. Weaker than <see cref="Verified"/>: nothing about its keys.
    /// </summary>
    public bool Routable;

    /// <summary>The engine's session slot for this peer plus one (0: none; membership modes, Engine.Sessions.cs).</summary>
    public int Session;

    /// <summary>
    /// When the engine last found or added this peer by address (its clock, µs): an entry nobody has looked up for a
    /// while and no table refers to may be forgotten (<see cref="PeerTable.Collect"/>).
    /// </summary>
    public long Touched;
}

/// <summary>
/// The engine's peers, indexed by a small integer id and found by address bytes without allocating: the
/// routing table and leaf sets refer to peers by id (<see cref="NodeRef.PeerId"/>), so a peer's address,
/// RTT and liveness are stored once however many of its keys are known.
/// </summary>
/// <remarks>
/// Bounded: at most <see cref="Capacity"/> peers; ids of removed peers are reused. The engine forgets peers that no
/// table refers to and nobody has looked up for a while (<see cref="Collect"/>), so a long-lived node that meets more
/// addresses than the capacity, or a flood of spoofed announcements, does not leave it unable to learn new peers.
/// </remarks>
internal sealed class PeerTable
{
    private readonly Dictionary<SocketAddress, int> _byAddress;
    private readonly Stack<int> _free = new();
    private Peer[] _peers;
    private int _next;

    /// <summary>Creates a table for at most <paramref name="capacity"/> peers.</summary>
    public PeerTable(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _byAddress = new Dictionary<SocketAddress, int>(Math.Min(capacity, 64));
        _peers = new Peer[Math.Min(capacity, 64)];
    }

    /// <summary>The most peers the table holds.</summary>
    public int Capacity { get; }

    /// <summary>Peers in the table.</summary>
    public int Count => _byAddress.Count;

    /// <summary>The peer with id <paramref name="id"/>; the reference is valid until the next add.</summary>
    public ref Peer this[int id] => ref _peers[id];

    /// <summary>
    /// The engine's clock (µs) at its current input: each look-up that finds or adds a peer stamps it into
    /// <see cref="Peer.Touched"/>.
    /// </summary>
    public long Now { get; set; }

    /// <summary>Finds a peer by address (any <see cref="SocketAddress"/> instance with the same bytes).</summary>
    public bool TryGet(SocketAddress address, out int id)
    {
        if (!_byAddress.TryGetValue(address, out id))
        {
            return false;
        }

        _peers[id].Touched = Now;
        return true;
    }

    /// <summary>
    /// Finds or adds the peer at <paramref name="address"/>, copying the address when it is new. Returns
    /// false when the address is new and the table is full.
    /// </summary>
    public bool TryGetOrAdd(SocketAddress address, out int id, out bool added)
    {
        added = false;
        if (_byAddress.TryGetValue(address, out id))
        {
            _peers[id].Touched = Now;
            return true;
        }

        if (_byAddress.Count >= Capacity)
        {
            id = -1;
            return false;
        }

        id = _free.Count > 0 ? _free.Pop() : _next++;
        if (id >= _peers.Length)
        {
            Array.Resize(ref _peers, Math.Min(Capacity, _peers.Length * 2));
        }

        var copy = new SocketAddress(address.Family, address.Size);
        address.Buffer.Span.CopyTo(copy.Buffer.Span);
        _peers[id] = new Peer { Address = copy, Subnet = SubnetOf(copy), Touched = Now };
        _byAddress.Add(copy, id);
        added = true;
        return true;
    }

    /// <summary>
    /// Forgets every peer that <paramref name="referenced"/> (indexed by id) does not mark and that was last touched
    /// before <paramref name="idleBefore"/>; returns how many. The caller marks every id its tables and requests hold, so
    /// a forgotten id is referred to nowhere when it is handed out again.
    /// </summary>
    public int Collect(ReadOnlySpan<bool> referenced, long idleBefore)
    {
        int removed = 0;
        for (int id = 0; id < _next; id++)
        {
            if (_peers[id].Address is not null && (id >= referenced.Length || !referenced[id]) && _peers[id].Touched < idleBefore && Remove(id))
            {
                removed++;
            }
        }

        return removed;
    }

    /// <summary>
    /// Sets <paramref name="marks"/>[<paramref name="peerId"/>] for a peer id in range (the engine's own, −1, and the
    /// −1 of a free slot are ignored): how the holders of peer ids report them to <see cref="Collect"/>.
    /// </summary>
    public static void Mark(Span<bool> marks, int peerId)
    {
        if ((uint)peerId < (uint)marks.Length)
        {
            marks[peerId] = true;
        }
    }

    /// <summary>Whether <paramref name="id"/> names a peer in the table now.</summary>
    public bool Contains(int id) => (uint)id < (uint)_next && _peers[id].Address is not null;

    /// <summary>Forgets a peer; its id may be handed out again.</summary>
    public bool Remove(int id)
    {
        if ((uint)id >= (uint)_next || _peers[id].Address is not SocketAddress address || !_byAddress.Remove(address))
        {
            return false;
        }

        _peers[id] = default;
        _free.Push(id);
        return true;
    }

    /// <summary>
    /// The subnet an address lies in: the first 24 bits of an IPv4 address (also when IPv4-mapped in IPv6),
    /// the first 48 of an IPv6 one, tagged by family so the two never collide. Allocation-free.
    /// </summary>
    public static ulong SubnetOf(SocketAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        ReadOnlySpan<byte> bytes = address.Buffer.Span[..address.Size];
        if (address.Family == AddressFamily.InterNetwork && bytes.Length >= 8)
        {
            // sockaddr_in: family (2), port (2), address (4).
            return (4UL << 56) | (BinaryPrimitives.ReadUInt32BigEndian(bytes[4..]) >> 8);
        }

        if (address.Family == AddressFamily.InterNetworkV6 && bytes.Length >= 24)
        {
            // sockaddr_in6: family (2), port (2), flow info (4), address (16), scope id (4).
            ReadOnlySpan<byte> ip = bytes.Slice(8, 16);
            if (IsV4Mapped(ip))
            {
                return (4UL << 56) | (BinaryPrimitives.ReadUInt32BigEndian(ip[12..]) >> 8);
            }

            return (6UL << 56) | (BinaryPrimitives.ReadUInt64BigEndian(ip) >> 16);
        }

        return 0;
    }

    private static bool IsV4Mapped(ReadOnlySpan<byte> ip) =>
        BinaryPrimitives.ReadUInt64BigEndian(ip) == 0 && BinaryPrimitives.ReadUInt32BigEndian(ip[8..]) == 0x0000_FFFF;

    /// <summary>The subnet of an <see cref="IPEndPoint"/>; for tests and tools (allocates).</summary>
    public static ulong SubnetOf(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        return SubnetOf(endPoint.Serialize());
    }
}
