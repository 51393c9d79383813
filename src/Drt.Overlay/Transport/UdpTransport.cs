using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;

namespace Drt.Overlay.Transport;

/// <summary>
/// The real transport: one UDP socket, dual-stack IPv6 by default (IPv4 peers reach it as IPv4-mapped addresses), with
/// an IPv4-only fallback. A dedicated receive thread blocks in <c>ReceiveFrom</c> and hands each datagram to the
/// receiver; the engine runs on that thread (see docs/engine.md).
/// </summary>
/// <remarks>
/// <para>
/// Steady state allocates nothing per datagram: the receive buffer and source <see cref="SocketAddress"/> are reused,
/// sends go through the <see cref="SocketAddress"/> overloads, and an IPv4 destination on the dual-stack socket is
/// rewritten into a per-thread IPv4-mapped scratch address.
/// </para>
/// <para>
/// Addresses have one form per peer: an IPv4 peer is reported as an IPv4 <see cref="SocketAddress"/> even though
/// the dual-stack socket sees it mapped, and <see cref="TrySend"/> accepts IPv4, IPv6 and IPv4-mapped destinations.
/// </para>
/// <para>
/// <see cref="Wake"/> sends a zero-length datagram to the socket itself, which unblocks the receive loop on every
/// platform; the loop also checks for a pending wake at least once a second (its receive timeout), so a wake is never
/// lost for long. The loop survives every transient socket error (ICMP resets, oversized datagrams, interrupts) and
/// every receiver exception, and counts them in <see cref="Counters"/>.
/// </para>
/// </remarks>
public sealed class UdpTransport : IDatagramTransport
{
    private const int ReceiveTimeoutMilliseconds = 1000;
    private const int StateCreated = 0;
    private const int StateStarted = 1;
    private const int StateClosed = 2;

    [ThreadStatic]
    private static SocketAddress? s_mapped;

    [ThreadStatic]
    private static SocketAddress? s_unmapped;

    private readonly Socket _socket;
    private readonly byte[] _receiveBuffer;
    private readonly SocketAddress _receiveAddress;
    private readonly SocketAddress _unmappedSource = new(AddressFamily.InterNetwork);
    private readonly SocketAddress _wakeAddress;
    private readonly bool _dualStack;
    private IDatagramReceiver? _receiver;
    private Thread? _thread;
    private int _state;
    private int _wakePending;

    /// <summary>Opens and binds the socket.</summary>
    /// <exception cref="DrtException">
    /// <see cref="DrtError.InvalidSettings"/> for bad options; <see cref="DrtError.TransportFailed"/> when the socket
    /// cannot be opened or bound (the port is in use, the address is not local).
    /// </exception>
    public UdpTransport(UdpTransportOptions? options = null)
    {
        options ??= new UdpTransportOptions();
        options.Validate();
        MaxDatagramSize = options.MaxDatagramSize;

        // One spare byte: a datagram that fills it was larger than the cap (some platforms truncate silently).
        _receiveBuffer = GC.AllocateUninitializedArray<byte>(options.MaxDatagramSize + 1, pinned: true);
        (_socket, _dualStack) = Open(options);
        var local = (IPEndPoint)_socket.LocalEndPoint!;
        LocalEndpoints = [local];
        AddressFamily = _socket.AddressFamily;
        _receiveAddress = new SocketAddress(_socket.AddressFamily);

        IPAddress wakeTo = local.Address.Equals(IPAddress.Any) ? IPAddress.Loopback
            : local.Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback
            : local.Address;
        _wakeAddress = new IPEndPoint(wakeTo, local.Port).Serialize();
    }

    /// <inheritdoc/>
    /// <remarks>Known from construction: the socket is bound by the constructor.</remarks>
    public IReadOnlyList<IPEndPoint> LocalEndpoints { get; }

    /// <inheritdoc/>
    public int MaxDatagramSize { get; }

    /// <inheritdoc/>
    /// <remarks>
    /// <see cref="AddressFamily.InterNetworkV6"/> for the dual-stack socket, which also sends to and reports IPv4
    /// addresses; <see cref="AddressFamily.InterNetwork"/> for an IPv4 socket.
    /// </remarks>
    public AddressFamily AddressFamily { get; }

    /// <summary>What this transport sent, received and survived.</summary>
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
        _thread = new Thread(ReceiveLoop)
        {
            IsBackground = true,
            Name = $"drt-udp :{LocalEndpoints[0].Port}",
        };
        _thread.Start();
    }

    /// <inheritdoc/>
    public bool TrySend(ReadOnlySpan<byte> datagram, SocketAddress destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (datagram.Length > MaxDatagramSize || Volatile.Read(ref _state) == StateClosed || !TryAddressFor(destination, out SocketAddress? to))
        {
            Counters.AddSendFailure();
            return false;
        }

        try
        {
            _socket.SendTo(datagram, SocketFlags.None, to);
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
            _socket.SendTo(ReadOnlySpan<byte>.Empty, SocketFlags.None, _wakeAddress);
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
    /// Waits for the receive thread to finish its current delivery and exit, except when called from that thread
    /// itself (a receiver closing its own transport), which exits when the callback returns.
    /// </remarks>
    public ValueTask CloseAsync()
    {
        if (Interlocked.Exchange(ref _state, StateClosed) == StateClosed)
        {
            return ValueTask.CompletedTask;
        }

        // Closing the socket makes a blocked ReceiveFrom return with an error; the loop then sees the closed state.
        _socket.Dispose();
        Thread? thread = _thread;
        if (thread is not null && thread != Thread.CurrentThread)
        {
            thread.Join(TimeSpan.FromSeconds(5));
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => CloseAsync();

    private static (Socket Socket, bool DualStack) Open(UdpTransportOptions options)
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
            return (Bind(bind, dualStack, options), dualStack);
        }
        catch (SocketException error) when (dualStack && error.SocketErrorCode is SocketError.AddressFamilyNotSupported or SocketError.AddressNotAvailable or SocketError.ProtocolNotSupported)
        {
            // IPv6 is compiled in but not usable on this host: serve IPv4 only.
            try
            {
                return (Bind(IPAddress.Any, dualStack: false, options), false);
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

    private static Socket Bind(IPAddress address, bool dualStack, UdpTransportOptions options)
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

            socket.Bind(new IPEndPoint(address, options.Port));
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
    /// The address to hand the socket for <paramref name="destination"/>: itself when the families match, an
    /// IPv4-mapped copy (per-thread scratch, no allocation after the first) for IPv4 on the dual-stack socket, the
    /// IPv4 form of a mapped address on an IPv4 socket. False when the socket cannot reach it.
    /// </summary>
    private bool TryAddressFor(SocketAddress destination, [NotNullWhen(true)] out SocketAddress? address)
    {
        address = destination;
        if (destination.Family == AddressFamily)
        {
            return true;
        }

        if (_dualStack && destination.Family == AddressFamily.InterNetwork)
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

        if (AddressFamily == AddressFamily.InterNetwork && destination.Family == AddressFamily.InterNetworkV6 && IsMapped(destination))
        {
            SocketAddress unmapped = s_unmapped ??= new SocketAddress(AddressFamily.InterNetwork);
            Unmap(destination, unmapped);
            address = unmapped;
            return true;
        }

        address = null;
        return false;
    }

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

    private void ReceiveLoop()
    {
        IDatagramReceiver receiver = _receiver!;
        while (Volatile.Read(ref _state) == StateStarted)
        {
            int length;
            try
            {
                _receiveAddress.Size = _receiveAddress.Buffer.Length;
                length = _socket.ReceiveFrom(_receiveBuffer, SocketFlags.None, _receiveAddress);
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

            SocketAddress source = _receiveAddress;
            if (_dualStack && IsMapped(source))
            {
                Unmap(source, _unmappedSource);
                source = _unmappedSource;
            }

            Counters.AddReceived(length);
            Deliver(receiver, length, source);
            DeliverWakeIfPending(receiver);
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

    private void Deliver(IDatagramReceiver receiver, int length, SocketAddress source)
    {
        try
        {
            receiver.OnDatagram(_receiveBuffer.AsMemory(0, length), source);
        }
        catch (Exception error)
        {
            // One catch at the loop boundary: a receiver bug must not take the node off the network.
            Counters.AddReceiverException();
            LastReceiverException = error;
        }
    }

    private bool DeliverWakeIfPending(IDatagramReceiver receiver)
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
}
