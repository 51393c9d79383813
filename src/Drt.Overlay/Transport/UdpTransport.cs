using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using System.Numerics;

namespace Drt.Overlay.Transport;

/// <summary>
/// The real transport: UDP sockets, by default one dual-stack IPv6 socket (IPv4 peers reach it as IPv4-mapped
/// addresses) with an IPv4-only fallback, or one socket per address in <see cref="UdpTransportOptions.BindAddresses"/>.
/// A dedicated receive thread per socket blocks in <c>ReceiveFrom</c> and hands each datagram to the receiver; the
/// engine runs on those threads, one at a time (see docs/engine.md).
/// </summary>
/// <remarks>
/// <para>
/// Steady state allocates nothing per datagram: each socket's receive buffer and source <see cref="SocketAddress"/>
/// are reused, sends go through the <see cref="SocketAddress"/> overloads, and an IPv4 destination on the dual-stack
/// socket is rewritten into a per-thread IPv4-mapped scratch address.
/// </para>
/// <para>
/// Addresses have one form per peer: an IPv4 peer is reported as an IPv4 <see cref="SocketAddress"/> even though
/// the dual-stack socket sees it mapped, and <see cref="TrySend"/> accepts IPv4, IPv6 and IPv4-mapped destinations.
/// </para>
/// <para>
/// Several sockets: one receive thread each, and a delivery lock taken around every call into the receiver, so
/// deliveries never overlap (the <see cref="IDatagramTransport.Start"/> contract the single-threaded engine relies on).
/// A thread per socket rather than one thread polling them all keeps one system call per datagram (a poll and then a
/// receive would be two on this syscall-bound path, DESIGN §6) and leaves the one-socket case exactly as it was: no
/// lock is taken when there is one socket. The lock is contended only when datagrams arrive on two addresses at the
/// same moment, and then the engine behind it is the bottleneck anyway.
/// </para>
/// <para>
/// <see cref="Wake"/> sends a zero-length datagram to the first socket itself, which unblocks its receive loop on
/// every platform; each loop also checks for a pending wake at least once a second (its receive timeout), so a wake is
/// never lost for long. The loops survive every transient socket error (ICMP resets, oversized datagrams, interrupts)
/// and every receiver exception, and count them in <see cref="Counters"/>.
/// </para>
/// </remarks>
public sealed class UdpTransport : IDatagramTransport
{
    private const int ReceiveTimeoutMilliseconds = 1000;
    private const int StateCreated = 0;
    private const int StateStarted = 1;
    private const int StateClosed = 2;

    /// <summary>The score a socket gets for a destination of its own scope (loopback to loopback, the rest to the rest).</summary>
    private const int SameScopeScore = 256;

    [ThreadStatic]
    private static SocketAddress? s_mapped;

    [ThreadStatic]
    private static SocketAddress? s_unmapped;

    /// <summary>One socket per bound address, in the order of the options; one when a single address is bound.</summary>
    private readonly Listener[] _listeners;

    /// <summary>
    /// Serializes deliveries when there are several sockets; null with one (its thread is the only deliverer). A monitor
    /// rather than <see cref="Lock"/>: the runtime waits on it without allocating, where <see cref="Lock"/> allocates
    /// its wait event the first time a thread has to wait.
    /// </summary>
    private readonly object? _deliveryLock;
    private readonly SocketAddress _wakeAddress;
    private IDatagramReceiver? _receiver;
    private int _state;
    private int _wakePending;

    /// <summary>Opens and binds the sockets.</summary>
    /// <exception cref="DrtException">
    /// <see cref="DrtError.InvalidSettings"/> for bad options; <see cref="DrtError.TransportFailed"/> when a socket
    /// cannot be opened or bound (the port is in use, the address is not local).
    /// </exception>
    public UdpTransport(UdpTransportOptions? options = null)
    {
        options ??= new UdpTransportOptions();
        options.Validate();
        MaxDatagramSize = options.MaxDatagramSize;
        _listeners = options.BindAddresses.Count == 1 ? [OpenOne(options)] : OpenMany(options);
        _deliveryLock = _listeners.Length > 1 ? new object() : null;

        var locals = new IPEndPoint[_listeners.Length];
        bool anyIPv6 = false;
        for (int i = 0; i < locals.Length; i++)
        {
            locals[i] = _listeners[i].Local;
            anyIPv6 |= _listeners[i].Family == AddressFamily.InterNetworkV6;
        }

        LocalEndpoints = locals;
        AddressFamily = anyIPv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;

        IPEndPoint first = locals[0];
        IPAddress wakeTo = first.Address.Equals(IPAddress.Any) ? IPAddress.Loopback
            : first.Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback
            : first.Address;
        _wakeAddress = new IPEndPoint(wakeTo, first.Port).Serialize();
    }

    /// <inheritdoc/>
    /// <remarks>Known from construction: the sockets are bound by the constructor. One per bound address, in order.</remarks>
    public IReadOnlyList<IPEndPoint> LocalEndpoints { get; }

    /// <inheritdoc/>
    public int MaxDatagramSize { get; }

    /// <inheritdoc/>
    /// <remarks>
    /// <see cref="AddressFamily.InterNetworkV6"/> when some socket is IPv6: the dual-stack socket, which also sends to
    /// and reports IPv4 addresses, or a set of sockets with an IPv6 one (IPv4 sources are still reported as IPv4, and
    /// IPv4 destinations go through an IPv4 socket when there is one); <see cref="AddressFamily.InterNetwork"/> when
    /// every socket is IPv4.
    /// </remarks>
    public AddressFamily AddressFamily { get; }

    /// <summary>What this transport sent, received and survived, over all its sockets.</summary>
    public UdpTransportCounters Counters { get; } = new();

    /// <summary>The last exception a receiver threw, for diagnostics; null when none has.</summary>
    public Exception? LastReceiverException { get; private set; }

    /// <inheritdoc/>
    public void Start(IDatagramReceiver receiver)
    {
        ArgumentNullException.ThrowIfNull(receiver);
        int previous = Interlocked.CompareExchange(ref _state, StateStarted, StateCreated);
        if (previous != StateCreated)
        {
            throw new InvalidOperationException(previous == StateClosed
                ? "The UDP transport is closed; create a new one."
                : "The UDP transport was already started; it delivers to one receiver.");
        }

        _receiver = receiver;
        foreach (Listener listener in _listeners)
        {
            listener.Thread = new Thread(() => ReceiveLoop(listener))
            {
                IsBackground = true,
                Name = _listeners.Length == 1 ? $"drt-udp :{listener.Local.Port}" : $"drt-udp {listener.Local}",
            };
        }

        foreach (Listener listener in _listeners)
        {
            listener.Thread!.Start();
        }
    }

    /// <inheritdoc/>
    /// <remarks>
    /// With several sockets the datagram leaves through the one that suits <paramref name="destination"/> best: a
    /// socket of its family (an IPv4 destination, or an IPv4-mapped one, through an IPv4 socket or a dual-stack one);
    /// among those, one of its scope (a loopback address for a loopback destination, another for the rest, as RFC 6724
    /// rule 2), then the one whose address shares the longest prefix with it (rule 8's spirit), then the first listed.
    /// So an answer leaves from the address family and subnet it came in on. No socket of its family: false, counted
    /// as a send failure.
    /// </remarks>
    public bool TrySend(ReadOnlySpan<byte> datagram, SocketAddress destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        Listener? via = _listeners.Length == 1 ? _listeners[0] : Choose(destination);
        if (datagram.Length > MaxDatagramSize || Volatile.Read(ref _state) == StateClosed || via is null || !via.TryAddressFor(destination, out SocketAddress? to))
        {
            Counters.AddSendFailure();
            return false;
        }

        try
        {
            via.Socket.SendTo(datagram, SocketFlags.None, to);
            Counters.AddSent(datagram.Length);
            return true;
        }
        catch (SocketException)
        {
            // Transient (no buffer space, unreachable network, ICMP reset reported on send): UDP may lose it anyway.
            Counters.AddSendFailure();
            return false;
        }
        catch (ObjectDisposedException)
        {
            Counters.AddSendFailure();
            return false;
        }
    }

    /// <inheritdoc/>
    public void Wake()
    {
        if (Volatile.Read(ref _state) != StateStarted || Interlocked.Exchange(ref _wakePending, 1) != 0)
        {
            return;
        }

        try
        {
            _listeners[0].Socket.SendTo(ReadOnlySpan<byte>.Empty, SocketFlags.None, _wakeAddress);
        }
        catch (SocketException)
        {
            // The receive timeout picks the pending wake up within a second.
        }
        catch (ObjectDisposedException)
        {
            // Closed meanwhile: nothing to wake.
        }
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Waits for the receive threads to finish their current delivery and exit, except when called from one of them
    /// (a receiver closing its own transport): then none is waited for, since another may be waiting for the delivery
    /// lock the caller holds; each exits once it sees the transport closed.
    /// </remarks>
    public ValueTask CloseAsync()
    {
        if (Interlocked.Exchange(ref _state, StateClosed) == StateClosed)
        {
            return ValueTask.CompletedTask;
        }

        // Closing a socket makes a blocked ReceiveFrom return with an error; the loop then sees the closed state.
        bool fromReceiveThread = false;
        foreach (Listener listener in _listeners)
        {
            listener.Socket.Dispose();
            fromReceiveThread |= listener.Thread == Thread.CurrentThread;
        }

        if (!fromReceiveThread)
        {
            foreach (Listener listener in _listeners)
            {
                listener.Thread?.Join(TimeSpan.FromSeconds(5));
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => CloseAsync();

    /// <summary>The one socket of a single bind address: a wildcard becomes dual-stack where the host has IPv6.</summary>
    private static Listener OpenOne(UdpTransportOptions options)
    {
        IPAddress bind = options.BindAddress;
        bool dualStack = bind.Equals(IPAddress.IPv6Any);
        if (dualStack && !Socket.OSSupportsIPv6)
        {
            bind = IPAddress.Any;
            dualStack = false;
        }

        try
        {
            return new Listener(Bind(bind, options.Port, dualStack, options), dualStack, options.MaxDatagramSize);
        }
        catch (SocketException error) when (dualStack && error.SocketErrorCode is SocketError.AddressFamilyNotSupported or SocketError.AddressNotAvailable or SocketError.ProtocolNotSupported)
        {
            // IPv6 is compiled in but not usable on this host: serve IPv4 only.
            try
            {
                return new Listener(Bind(IPAddress.Any, options.Port, dualStack: false, options), dualStack: false, options.MaxDatagramSize);
            }
            catch (SocketException inner)
            {
                throw BindFailed(IPAddress.Any, options.Port, inner);
            }
        }
        catch (SocketException error)
        {
            throw BindFailed(bind, options.Port, error);
        }
    }

    /// <summary>
    /// One socket per address (validated: specific addresses, each once), all on the options' port; with port 0 the
    /// first picks one and the others try the same, else take their own. Any failure closes what was opened.
    /// </summary>
    private static Listener[] OpenMany(UdpTransportOptions options)
    {
        IReadOnlyList<IPAddress> addresses = options.BindAddresses;
        var listeners = new Listener[addresses.Count];
        int opened = 0;
        try
        {
            for (; opened < listeners.Length; opened++)
            {
                IPAddress address = addresses[opened];
                int port = opened == 0 || options.Port != 0 ? options.Port : listeners[0].Local.Port;
                Socket socket;
                try
                {
                    socket = Bind(address, port, dualStack: false, options);
                }
                catch (SocketException error) when (port != options.Port && error.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AccessDenied)
                {
                    // The first socket's free port is taken on this address: any free one will do.
                    socket = BindOrThrow(address, 0, options);
                }
                catch (SocketException error)
                {
                    throw BindFailed(address, port, error);
                }

                listeners[opened] = new Listener(socket, dualStack: false, options.MaxDatagramSize);
            }

            return listeners;
        }
        catch
        {
            for (int i = 0; i < opened; i++)
            {
                listeners[i].Socket.Dispose();
            }

            throw;
        }
    }

    private static Socket BindOrThrow(IPAddress address, int port, UdpTransportOptions options)
    {
        try
        {
            return Bind(address, port, dualStack: false, options);
        }
        catch (SocketException error)
        {
            throw BindFailed(address, port, error);
        }
    }

    private static Socket Bind(IPAddress address, int port, bool dualStack, UdpTransportOptions options)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (dualStack)
            {
                socket.DualMode = true;
            }

            if (options.ReceiveBufferSize > 0)
            {
                socket.ReceiveBufferSize = options.ReceiveBufferSize;
            }

            if (options.SendBufferSize > 0)
            {
                socket.SendBufferSize = options.SendBufferSize;
            }

            socket.ReceiveTimeout = ReceiveTimeoutMilliseconds;
            if (OperatingSystem.IsWindows())
            {
                // SIO_UDP_CONNRESET off: an ICMP port-unreachable must not fail the next receive (Windows only).
                const int SioUdpConnReset = unchecked((int)0x9800000C);
                socket.IOControl(SioUdpConnReset, [0, 0, 0, 0], null);
            }

            socket.Bind(new IPEndPoint(address, port));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static DrtException BindFailed(IPAddress address, int port, SocketException error) =>
        new(DrtError.TransportFailed, $"Could not bind UDP {new IPEndPoint(address, port)}: {error.SocketErrorCode} ({error.Message}). Choose another port or a local address.", error);

    /// <summary>
    /// The socket for <paramref name="destination"/> among several (see <see cref="TrySend"/>): family, then scope, then
    /// the longest prefix shared with the bound address, then the first. Null when none serves its family.
    /// </summary>
    private Listener? Choose(SocketAddress destination)
    {
        ReadOnlySpan<byte> bytes = destination.Buffer.Span;
        AddressFamily family;
        ulong high;
        ulong low = 0;
        if (destination.Family == AddressFamily.InterNetwork && bytes.Length >= 8)
        {
            family = AddressFamily.InterNetwork;
            high = (ulong)BinaryPrimitives.ReadUInt32BigEndian(bytes.Slice(4, 4)) << 32;
        }
        else if (destination.Family == AddressFamily.InterNetworkV6 && bytes.Length >= 24)
        {
            // An IPv4-mapped destination is an IPv4 one: an IPv4 socket (or a dual-stack one) reaches it.
            bool mapped = IsMapped(destination);
            family = mapped ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6;
            high = mapped ? (ulong)BinaryPrimitives.ReadUInt32BigEndian(bytes.Slice(20, 4)) << 32 : BinaryPrimitives.ReadUInt64BigEndian(bytes.Slice(8, 8));
            low = mapped ? 0 : BinaryPrimitives.ReadUInt64BigEndian(bytes.Slice(16, 8));
        }
        else
        {
            return null;
        }

        bool loopback = IsLoopback(family, high, low);
        Listener? best = null;
        int bestScore = -1;
        foreach (Listener listener in _listeners)
        {
            if (family == AddressFamily.InterNetwork ? !listener.ServesIPv4 : listener.Family != AddressFamily.InterNetworkV6)
            {
                continue;
            }

            // Strictly greater: among equals the first listed wins.
            int score = (listener.IsLoopback == loopback ? SameScopeScore : 0) + listener.SharedPrefix(family, high, low);
            if (score > bestScore)
            {
                best = listener;
                bestScore = score;
            }
        }

        return best;
    }

    private static bool IsLoopback(AddressFamily family, ulong high, ulong low) =>
        family == AddressFamily.InterNetwork ? high >> 56 == 127 : high == 0 && low == 1;

    private static bool IsMapped(SocketAddress address)
    {
        ReadOnlySpan<byte> bytes = address.Buffer.Span;
        return address.Size >= 24 && !bytes.Slice(8, 10).ContainsAnyExcept((byte)0) && bytes[18] == 0xFF && bytes[19] == 0xFF;
    }

    private static void Unmap(SocketAddress mapped, SocketAddress into)
    {
        ReadOnlySpan<byte> from = mapped.Buffer.Span;
        Span<byte> to = into.Buffer.Span;
        to[2..].Clear();
        from.Slice(2, 2).CopyTo(to.Slice(2, 2));
        from.Slice(20, 4).CopyTo(to.Slice(4, 4));
    }

    private void ReceiveLoop(Listener listener)
    {
        IDatagramReceiver receiver = _receiver!;
        Socket socket = listener.Socket;
        SocketAddress address = listener.ReceiveAddress;
        while (Volatile.Read(ref _state) == StateStarted)
        {
            int length;
            try
            {
                address.Size = address.Buffer.Length;
                length = socket.ReceiveFrom(listener.ReceiveBuffer, SocketFlags.None, address);
            }
            catch (SocketException error)
            {
                if (!SurviveReceiveError(error.SocketErrorCode))
                {
                    break;
                }

                DeliverWakeIfPending(receiver);
                continue;
            }
            catch (ObjectDisposedException)
            {
                break; // closed
            }

            if (length == 0)
            {
                // A wake (ours, or anyone's: all it can do is make us check the flag).
                if (!DeliverWakeIfPending(receiver))
                {
                    Counters.AddEmptyDatagram();
                }

                continue;
            }

            if (length > MaxDatagramSize)
            {
                Counters.AddOversized();
                continue;
            }

            SocketAddress source = address;
            if (listener.DualStack && IsMapped(source))
            {
                Unmap(source, listener.UnmappedSource);
                source = listener.UnmappedSource;
            }

            Deliver(receiver, listener.ReceiveBuffer, length, source);
        }
    }

    /// <summary>Whether the loop goes on after <paramref name="error"/>; counts the transient ones.</summary>
    private bool SurviveReceiveError(SocketError error)
    {
        switch (error)
        {
            case SocketError.TimedOut or SocketError.WouldBlock or SocketError.Interrupted:
                return true; // the periodic wake check
            case SocketError.ConnectionReset or SocketError.ConnectionRefused:
                Counters.AddConnectionReset();
                return true;
            case SocketError.MessageSize:
                Counters.AddOversized();
                return true;
            case SocketError.OperationAborted or SocketError.Shutdown or SocketError.NotSocket or SocketError.Disconnecting:
                return false; // closing
            default:
                // Unreachable networks, no buffers and the like pass; a socket that keeps failing is closed by its owner.
                Counters.AddReceiveError();
                return Volatile.Read(ref _state) == StateStarted;
        }
    }

    /// <summary>
    /// One datagram to the receiver, then a wake that came meanwhile. With several sockets under the delivery lock, and
    /// not at all once the transport is closed (a thread that waited for the lock while a receiver closed it).
    /// </summary>
    private void Deliver(IDatagramReceiver receiver, byte[] buffer, int length, SocketAddress source)
    {
        object? deliveryLock = _deliveryLock;
        if (deliveryLock is null)
        {
            DeliverNow(receiver, buffer, length, source);
            return;
        }

        lock (deliveryLock)
        {
            if (Volatile.Read(ref _state) == StateStarted)
            {
                DeliverNow(receiver, buffer, length, source);
            }
        }
    }

    private void DeliverNow(IDatagramReceiver receiver, byte[] buffer, int length, SocketAddress source)
    {
        Counters.AddReceived(length);
        try
        {
            receiver.OnDatagram(buffer.AsMemory(0, length), source);
        }
        catch (Exception error)
        {
            // One catch at the loop boundary: a receiver bug must not take the node off the network.
            Counters.AddReceiverException();
            LastReceiverException = error;
        }

        DeliverWakeIfPendingLocked(receiver);
    }

    /// <summary>Delivers a pending wake (under the delivery lock when there is one); false when none was pending.</summary>
    private bool DeliverWakeIfPending(IDatagramReceiver receiver)
    {
        object? deliveryLock = _deliveryLock;
        if (Volatile.Read(ref _wakePending) == 0 || deliveryLock is null)
        {
            return DeliverWakeIfPendingLocked(receiver);
        }

        lock (deliveryLock)
        {
            return Volatile.Read(ref _state) == StateStarted && DeliverWakeIfPendingLocked(receiver);
        }
    }

    /// <summary>Delivers a pending wake; called by the only receive thread, or under the delivery lock.</summary>
    private bool DeliverWakeIfPendingLocked(IDatagramReceiver receiver)
    {
        if (Volatile.Read(ref _wakePending) == 0 || Interlocked.Exchange(ref _wakePending, 0) == 0)
        {
            return false;
        }

        Counters.AddWake();
        try
        {
            receiver.OnWake();
        }
        catch (Exception error)
        {
            Counters.AddReceiverException();
            LastReceiverException = error;
        }

        return true;
    }

    /// <summary>One bound socket with what its receive thread reuses and what sending through it needs to know.</summary>
    private sealed class Listener
    {
        private readonly ulong _prefixHigh;
        private readonly ulong _prefixLow;

        public Listener(Socket socket, bool dualStack, int maxDatagramSize)
        {
            Socket = socket;
            DualStack = dualStack;
            Family = socket.AddressFamily;
            Local = (IPEndPoint)socket.LocalEndPoint!;

            // One spare byte: a datagram that fills it was larger than the cap (some platforms truncate silently).
            ReceiveBuffer = GC.AllocateUninitializedArray<byte>(maxDatagramSize + 1, pinned: true);
            ReceiveAddress = new SocketAddress(Family);

            Span<byte> address = stackalloc byte[16];
            if (Local.Address.TryWriteBytes(address, out int written) && written == 4)
            {
                _prefixHigh = (ulong)BinaryPrimitives.ReadUInt32BigEndian(address) << 32;
            }
            else
            {
                _prefixHigh = BinaryPrimitives.ReadUInt64BigEndian(address);
                _prefixLow = BinaryPrimitives.ReadUInt64BigEndian(address[8..]);
            }

            IsLoopback = IPAddress.IsLoopback(Local.Address);
        }

        public Socket Socket { get; }

        /// <summary>Whether this is the wildcard dual-stack socket (IPv4 peers arrive mapped).</summary>
        public bool DualStack { get; }

        public AddressFamily Family { get; }

        public IPEndPoint Local { get; }

        public bool IsLoopback { get; }

        /// <summary>Whether IPv4 destinations can go through this socket: an IPv4 one, or the dual-stack one.</summary>
        public bool ServesIPv4 => Family == AddressFamily.InterNetwork || DualStack;

        public byte[] ReceiveBuffer { get; }

        /// <summary>Where the receive thread reads each datagram's source; reused.</summary>
        public SocketAddress ReceiveAddress { get; }

        /// <summary>The IPv4 form of a mapped source (dual-stack socket only); reused.</summary>
        public SocketAddress UnmappedSource { get; } = new(AddressFamily.InterNetwork);

        public Thread? Thread { get; set; }

        /// <summary>Leading bits the bound address shares with a destination of <paramref name="family"/> (0 for another family: the wildcard).</summary>
        public int SharedPrefix(AddressFamily family, ulong high, ulong low)
        {
            if (family != Family)
            {
                return 0;
            }

            int bits = BitOperations.LeadingZeroCount(high ^ _prefixHigh);
            return family == AddressFamily.InterNetwork ? Math.Min(bits, 32) : bits == 64 ? 64 + BitOperations.LeadingZeroCount(low ^ _prefixLow) : bits;
        }

        /// <summary>
        /// The address to hand this socket for <paramref name="destination"/>: itself when the families match, an
        /// IPv4-mapped copy (per-thread scratch, no allocation after the first) for IPv4 on the dual-stack socket, the
        /// IPv4 form of a mapped address on an IPv4 socket. False when the socket cannot reach it.
        /// </summary>
        public bool TryAddressFor(SocketAddress destination, [NotNullWhen(true)] out SocketAddress? address)
        {
            address = destination;
            if (destination.Family == Family)
            {
                return true;
            }

            if (DualStack && destination.Family == AddressFamily.InterNetwork)
            {
                SocketAddress mapped = s_mapped ??= new SocketAddress(AddressFamily.InterNetworkV6);
                Span<byte> to = mapped.Buffer.Span;
                ReadOnlySpan<byte> from = destination.Buffer.Span;
                to[2..].Clear();
                from.Slice(2, 2).CopyTo(to.Slice(2, 2));      // port
                to[18] = 0xFF;                                // ::ffff:a.b.c.d
                to[19] = 0xFF;
                from.Slice(4, 4).CopyTo(to.Slice(20, 4));     // address
                address = mapped;
                return true;
            }

            if (Family == AddressFamily.InterNetwork && destination.Family == AddressFamily.InterNetworkV6 && IsMapped(destination))
            {
                SocketAddress unmapped = s_unmapped ??= new SocketAddress(AddressFamily.InterNetwork);
                Unmap(destination, unmapped);
                address = unmapped;
                return true;
            }

            address = null;
            return false;
        }
    }
}
