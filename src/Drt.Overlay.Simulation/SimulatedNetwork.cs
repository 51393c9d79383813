using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Numerics;
using System.Runtime.InteropServices;
using Drt.Overlay.Transport;

namespace Drt.Overlay.Simulation;

/// <summary>Decides whether one datagram may travel; return false to drop it. Runs at send time.</summary>
/// <param name="source">The sending endpoint.</param>
/// <param name="destination">The endpoint the datagram is addressed to.</param>
/// <param name="datagram">The datagram's bytes (header and body).</param>
public delegate bool DatagramFilter(SimulatedTransport source, SimulatedTransport destination, ReadOnlySpan<byte> datagram);

/// <summary>
/// Thousands of datagram endpoints in one process, in virtual time: every datagram is copied, delayed, maybe lost,
/// duplicated or reordered according to its link's <see cref="LinkProfile"/>, and delivered as real bytes to the
/// receiver at the far end, when the <see cref="VirtualTimeScheduler"/> reaches its arrival time.
/// </summary>
/// <remarks>
/// <para>
/// Deterministic: all randomness comes from one <see cref="Random"/> seeded with <see cref="Seed"/>, consumed in
/// event order, so the same program with the same seed delivers the same bytes at the same virtual times.
/// <see cref="TraceHash"/> digests every delivery and drop to prove it.
/// </para>
/// <para>
/// Addresses are loopback-shaped but never touch a socket: IPv4 endpoints get 127.b.c.d with a different /24 for
/// each of the first 65,536 endpoints, IPv6 endpoints fd00:d27:x:y::1 with a different /48 each, all on port
/// <see cref="DefaultPort"/>, so subnet diversity rules see a realistic spread.
/// </para>
/// <para>
/// Steady state allocates nothing per datagram: in-flight copies live in pooled slots of
/// <see cref="MaxDatagramSize"/> bytes, and the source address handed to a receiver is a reused instance.
/// </para>
/// </remarks>
public sealed class SimulatedNetwork : VirtualTimeScheduler.IScheduledEvent
{
    /// <summary>The port every automatically addressed endpoint uses (DRT's 3540).</summary>
    public const int DefaultPort = 3540;

    private const ulong TraceDelivered = 1;
    private const ulong TraceLost = 2;
    private const ulong TraceDropped = 3;

    private readonly Lock _gate = new();
    private readonly Random _random;
    private readonly List<SimulatedTransport> _transports = [];
    private readonly Dictionary<SocketAddress, SimulatedTransport> _byAddress = [];
    private readonly Dictionary<long, LinkProfile> _links = [];
    private readonly Stack<int> _freeSlots = new();
    private readonly SocketAddress _sourceV4 = new(AddressFamily.InterNetwork);
    private readonly SocketAddress _sourceV6 = new(AddressFamily.InterNetworkV6);
    private readonly SocketAddress _unmapped = new(AddressFamily.InterNetwork);
    private InFlight[] _slots = new InFlight[64];
    private int _slotCount;
    private int _nextV4;
    private int _nextV6;
    private int _nextPartition;
    private ulong _trace = 0xCBF29CE484222325;

    /// <summary>Creates an empty network on <paramref name="scheduler"/>.</summary>
    /// <param name="scheduler">The clock and event queue deliveries run on.</param>
    /// <param name="seed">Seeds every random decision the network makes.</param>
    /// <param name="defaultLink">How links behave unless <see cref="SetLink"/> says otherwise; <see cref="LinkProfile.Default"/> when null.</param>
    /// <param name="maxDatagramSize">The largest datagram a transport accepts: 1,232 by default (the protocol's cap), up to 65,507.</param>
    public SimulatedNetwork(VirtualTimeScheduler scheduler, int seed, LinkProfile? defaultLink = null, int maxDatagramSize = 1232)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDatagramSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxDatagramSize, 65_507);
        Scheduler = scheduler;
        Seed = seed;
        DefaultLink = defaultLink ?? LinkProfile.Default;
        MaxDatagramSize = maxDatagramSize;
        _random = new Random(seed);
    }

    /// <summary>The clock and event queue this network runs on.</summary>
    public VirtualTimeScheduler Scheduler { get; }

    /// <summary>The seed of every random decision; print it when a test fails.</summary>
    public int Seed { get; }

    /// <summary>The largest datagram a transport accepts.</summary>
    public int MaxDatagramSize { get; }

    /// <summary>How links behave unless <see cref="SetLink"/> overrides a pair. Applies to datagrams sent after it is set.</summary>
    public LinkProfile DefaultLink
    {
        get;
        set => field = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>Drops datagrams for which it returns false (fault injection in tests); null lets everything through.</summary>
    public DatagramFilter? Filter { get; set; }

    /// <summary>What the network carried and dropped.</summary>
    public NetworkStatistics Statistics { get; } = new();

    /// <summary>
    /// A digest of every delivery (virtual time, source, destination, bytes) and every drop, in order. Two runs with
    /// the same seed and program have the same hash; any divergence changes it.
    /// </summary>
    public ulong TraceHash
    {
        get
        {
            lock (_gate)
            {
                return _trace;
            }
        }
    }

    /// <summary>Every endpoint ever created, in creation order (closed and crashed ones included).</summary>
    public IReadOnlyList<SimulatedTransport> Transports => _transports;

    /// <summary>Creates an IPv4 endpoint with the next free address.</summary>
    public SimulatedTransport CreateTransport() => CreateTransport(AddressFamily.InterNetwork);

    /// <summary>Creates an endpoint with the next free address of <paramref name="family"/>.</summary>
    public SimulatedTransport CreateTransport(AddressFamily family)
    {
        if (family is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new ArgumentOutOfRangeException(nameof(family), family, "A simulated endpoint is IPv4 (InterNetwork) or IPv6 (InterNetworkV6).");
        }

        lock (_gate)
        {
            // Skip addresses taken explicitly; bounded by the number of endpoints that exist.
            while (true)
            {
                IPEndPoint candidate = family == AddressFamily.InterNetwork ? AutomaticV4(_nextV4++) : AutomaticV6(_nextV6++);
                if (!_byAddress.ContainsKey(candidate.Serialize()))
                {
                    return AddLocked(candidate);
                }
            }
        }
    }

    /// <summary>
    /// Creates an endpoint at <paramref name="endPoint"/>: to choose subnets in a test, or to restart a crashed node at
    /// its old address.
    /// </summary>
    /// <exception cref="ArgumentException">The address is unspecified, has port 0, is IPv4-mapped, or is in use by an attached endpoint.</exception>
    public SimulatedTransport CreateTransport(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        if (endPoint.Port == 0 || endPoint.Address.Equals(IPAddress.Any) || endPoint.Address.Equals(IPAddress.IPv6Any) || endPoint.Address.IsIPv4MappedToIPv6)
        {
            throw new ArgumentException($"A simulated endpoint needs a specific address and port, not mapped; got {endPoint}.", nameof(endPoint));
        }

        lock (_gate)
        {
            if (_byAddress.ContainsKey(endPoint.Serialize()))
            {
                throw new ArgumentException($"{endPoint} is in use by an attached simulated endpoint; crash or close it first.", nameof(endPoint));
            }

            return AddLocked(endPoint);
        }
    }

    /// <summary>Sets how datagrams from <paramref name="from"/> to <paramref name="to"/> travel (one direction).</summary>
    public void SetLink(SimulatedTransport from, SimulatedTransport to, LinkProfile profile)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        ArgumentNullException.ThrowIfNull(profile);
        lock (_gate)
        {
            _links[LinkKey(from, to)] = profile;
        }
    }

    /// <summary>Returns every link to <see cref="DefaultLink"/>.</summary>
    public void ResetLinks()
    {
        lock (_gate)
        {
            _links.Clear();
        }
    }

    /// <summary>
    /// Cuts <paramref name="side"/> off from everyone else: datagrams between it and the rest are dropped on arrival,
    /// including those already in flight. Endpoints inside <paramref name="side"/> still reach each other.
    /// </summary>
    public void Partition(IEnumerable<SimulatedTransport> side)
    {
        ArgumentNullException.ThrowIfNull(side);
        lock (_gate)
        {
            int group = ++_nextPartition;
            foreach (SimulatedTransport transport in side)
            {
                transport.Partition = group;
            }
        }
    }

    /// <summary>Removes every partition.</summary>
    public void Heal()
    {
        lock (_gate)
        {
            foreach (SimulatedTransport transport in _transports)
            {
                transport.Partition = 0;
            }
        }
    }

    /// <summary>
    /// Takes <paramref name="transport"/> down without a word: it sends and receives nothing more, datagrams in flight
    /// to it are lost, and its address is free for a restarted node (<see cref="CreateTransport(IPEndPoint)"/>).
    /// </summary>
    public void Crash(SimulatedTransport transport)
    {
        ArgumentNullException.ThrowIfNull(transport);
        transport.Detach(crashed: true);
    }

    /// <summary>Carries one datagram from <paramref name="source"/> (the hot path; see <see cref="SimulatedTransport.TrySend"/>).</summary>
    internal bool Send(SimulatedTransport source, ReadOnlySpan<byte> datagram, SocketAddress destination)
    {
        lock (_gate)
        {
            if (!source.IsAttached || datagram.Length > MaxDatagramSize || !TryResolveLocked(source, destination, out SimulatedTransport? target, out bool routable))
            {
                Statistics.SendsRefused++;
                return false;
            }

            source.DatagramsSent++;
            Statistics.Sent++;
            Statistics.BytesSent += datagram.Length;

            // UDP semantics: a datagram to nowhere is sent successfully and vanishes.
            if (!routable)
            {
                Statistics.DroppedUnreachable++;
                Trace(TraceDropped, source.Index, -1, datagram.Length);
                return true;
            }

            if (Filter is { } filter && !filter(source, target!, datagram))
            {
                Statistics.DroppedByFilter++;
                Trace(TraceDropped, source.Index, target!.Index, datagram.Length);
                return true;
            }

            LinkProfile link = _links.Count != 0 && _links.TryGetValue(LinkKey(source, target!), out LinkProfile? specific) ? specific : DefaultLink;
            if (link.Loss > 0 && _random.NextDouble() < link.Loss)
            {
                Statistics.Lost++;
                Trace(TraceLost, source.Index, target!.Index, datagram.Length);
                return true;
            }

            int copies = 1;
            if (link.Duplicate > 0 && _random.NextDouble() < link.Duplicate)
            {
                copies = 2;
                Statistics.Duplicated++;
            }

            for (int i = 0; i < copies; i++)
            {
                long delay = DelayTicks(link, source, target!);
                int slot = RentSlot();
                ref InFlight packet = ref _slots[slot];
                datagram.CopyTo(packet.Buffer);
                packet.Length = datagram.Length;
                packet.Source = source;
                packet.Destination = target;
                Statistics.InFlight++;
                Scheduler.Schedule(delay, this, slot, 0);
            }

            return true;
        }
    }

    /// <summary>Called by a transport that closed or crashed: its address is free again.</summary>
    internal void Remove(SimulatedTransport transport)
    {
        lock (_gate)
        {
            if (_byAddress.TryGetValue(transport.Address, out SimulatedTransport? current) && ReferenceEquals(current, transport))
            {
                _byAddress.Remove(transport.Address);
            }
        }
    }

    /// <summary>A datagram arrives: the scheduler runs this at its arrival time with the slot it travels in.</summary>
    void VirtualTimeScheduler.IScheduledEvent.Run(long argument, int generation)
    {
        int slot = (int)argument;
        SimulatedTransport source;
        SimulatedTransport destination;
        IDatagramReceiver? receiver;
        SocketAddress sourceAddress;
        byte[] buffer;
        int length;
        lock (_gate)
        {
            ref InFlight packet = ref _slots[slot];
            source = packet.Source!;
            destination = packet.Destination!;
            buffer = packet.Buffer;
            length = packet.Length;
            Statistics.InFlight--;
            receiver = destination.Receiver;
            if (!destination.IsAttached || receiver is null)
            {
                // Crashed, closed, or never started: a socket that is not reading loses the datagram.
                Statistics.DroppedUnreachable++;
                Trace(TraceDropped, source.Index, destination.Index, length);
                ReturnSlot(slot);
                return;
            }

            if (source.Partition != destination.Partition)
            {
                Statistics.DroppedByPartition++;
                Trace(TraceDropped, source.Index, destination.Index, length);
                ReturnSlot(slot);
                return;
            }

            Statistics.Delivered++;
            Statistics.BytesDelivered += length;
            destination.DatagramsReceived++;
            Trace(TraceDelivered, source.Index, destination.Index, length);
            _trace = Mix(_trace, ContentHash(buffer.AsSpan(0, length)));

            // One reused source address per family: receivers copy what they keep (IDatagramReceiver's contract).
            sourceAddress = source.AddressFamily == AddressFamily.InterNetwork ? _sourceV4 : _sourceV6;
            source.Address.Buffer.Span.CopyTo(sourceAddress.Buffer.Span);
            sourceAddress.Size = source.Address.Size;
        }

        try
        {
            // Outside the lock: the receiver sends, and may run for a while.
            receiver.OnDatagram(buffer.AsMemory(0, length), sourceAddress);
        }
        finally
        {
            lock (_gate)
            {
                ReturnSlot(slot);
            }
        }
    }

    private SimulatedTransport AddLocked(IPEndPoint endPoint)
    {
        var transport = new SimulatedTransport(this, _transports.Count, endPoint, _random.NextDouble(), _random.NextDouble());
        _transports.Add(transport);
        _byAddress.Add(transport.Address, transport);
        return transport;
    }

    /// <summary>
    /// Finds the endpoint <paramref name="destination"/> names. Returns false when the sender cannot address it at all
    /// (an IPv4 endpoint sending to IPv6); <paramref name="routable"/> is false when nobody is there.
    /// </summary>
    private bool TryResolveLocked(SimulatedTransport source, SocketAddress destination, out SimulatedTransport? target, out bool routable)
    {
        target = null;
        routable = false;
        SocketAddress key = destination;
        if (destination.Family == AddressFamily.InterNetworkV6)
        {
            if (source.AddressFamily == AddressFamily.InterNetwork)
            {
                return false;
            }

            // An IPv4-mapped destination from an IPv6 endpoint reaches the IPv4 endpoint, as on a dual-stack socket.
            Span<byte> bytes = destination.Buffer.Span;
            if (destination.Size >= 24 && bytes.Slice(8, 10).IndexOfAnyExcept((byte)0) < 0 && bytes[18] == 0xFF && bytes[19] == 0xFF)
            {
                Span<byte> v4 = _unmapped.Buffer.Span;
                v4.Slice(2).Clear();
                bytes.Slice(2, 2).CopyTo(v4.Slice(2, 2));
                bytes.Slice(20, 4).CopyTo(v4.Slice(4, 4));
                key = _unmapped;
            }
        }
        else if (destination.Family != AddressFamily.InterNetwork)
        {
            return false;
        }

        routable = _byAddress.TryGetValue(key, out target);
        return true;
    }

    private long DelayTicks(LinkProfile link, SimulatedTransport source, SimulatedTransport target)
    {
        long delay = link.Latency.Ticks;
        if (link.Spread > TimeSpan.Zero)
        {
            double dx = source.X - target.X;
            double dy = source.Y - target.Y;
            delay += (long)(link.Spread.Ticks * Math.Sqrt(((dx * dx) + (dy * dy)) / 2));
        }

        if (link.Jitter > TimeSpan.Zero)
        {
            delay += (long)(link.Jitter.Ticks * _random.NextDouble());
        }

        if (link.Reorder > 0 && _random.NextDouble() < link.Reorder)
        {
            delay += link.ReorderDelay.Ticks;
            Statistics.Reordered++;
        }

        return delay;
    }

    private int RentSlot()
    {
        if (_freeSlots.TryPop(out int slot))
        {
            return slot;
        }

        if (_slotCount == _slots.Length)
        {
            Array.Resize(ref _slots, _slots.Length * 2);
        }

        slot = _slotCount++;
        _slots[slot].Buffer = new byte[MaxDatagramSize];
        return slot;
    }

    private void ReturnSlot(int slot)
    {
        // Drop the references so a closed endpoint can be collected; keep the buffer for the next datagram.
        _slots[slot].Source = null;
        _slots[slot].Destination = null;
        _freeSlots.Push(slot);
    }

    private void Trace(ulong kind, int source, int destination, int length)
    {
        _trace = Mix(_trace, kind);
        _trace = Mix(_trace, (ulong)Scheduler.GetTimestamp());
        _trace = Mix(_trace, ((ulong)(uint)source << 32) | (uint)destination);
        _trace = Mix(_trace, (ulong)length);
    }

    private static ulong Mix(ulong hash, ulong value) =>
        BitOperations.RotateLeft(hash ^ (value * 0x9E3779B97F4A7C15), 27) * 0xC2B2AE3D27D4EB4F;

    private static ulong ContentHash(ReadOnlySpan<byte> bytes)
    {
        ulong hash = (ulong)bytes.Length;
        ReadOnlySpan<ulong> words = MemoryMarshal.Cast<byte, ulong>(bytes);
        foreach (ulong word in words)
        {
            hash = Mix(hash, word);
        }

        for (int i = words.Length * sizeof(ulong); i < bytes.Length; i++)
        {
            hash = Mix(hash, bytes[i]);
        }

        return hash;
    }

    private static long LinkKey(SimulatedTransport from, SimulatedTransport to) => ((long)from.Index << 32) | (uint)to.Index;

    private static IPEndPoint AutomaticV4(int n)
    {
        // 127.b.c.d: b.c walks the /24s, d the rounds; never .0 in the last octet.
        Span<byte> bytes = [127, (byte)(n >> 8), (byte)n, (byte)(1 + (n >> 16))];
        return new IPEndPoint(new IPAddress(bytes), DefaultPort);
    }

    private static IPEndPoint AutomaticV6(int n)
    {
        Span<byte> bytes = stackalloc byte[16];
        bytes.Clear();
        BinaryPrimitives.WriteUInt16BigEndian(bytes, 0xFD00);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[2..], 0x0D27);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[4..], (ushort)n);
        BinaryPrimitives.WriteUInt16BigEndian(bytes[6..], (ushort)(n >> 16));
        bytes[15] = 1;
        return new IPEndPoint(new IPAddress(bytes), DefaultPort);
    }

    /// <summary>A datagram on its way: its copy of the bytes and who sent it to whom.</summary>
    private struct InFlight
    {
        public byte[] Buffer;
        public int Length;
        public SimulatedTransport? Source;
        public SimulatedTransport? Destination;
    }
}
