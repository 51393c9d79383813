using System.Net;
using System.Net.Sockets;
using Drt.Overlay.Transport;

namespace Drt.Overlay.Simulation;

/// <summary>
/// One endpoint of a <see cref="SimulatedNetwork"/>: an <see cref="IDatagramTransport"/> whose datagrams travel in
/// virtual time. Created by <see cref="SimulatedNetwork.CreateTransport(AddressFamily)"/>.
/// </summary>
/// <remarks>
/// Deliveries and wakes run on the thread that runs the network's <see cref="VirtualTimeScheduler"/>, one at a
/// time, so an engine on this transport sees the same single-threaded delivery as on <c>UdpTransport</c>.
/// A source address handed to the receiver is in the sender's own family (an IPv4 sender appears as IPv4 even to
/// an IPv6 receiver), as <c>UdpTransport</c> reports IPv4-mapped sources.
/// </remarks>
public sealed class SimulatedTransport : IDatagramTransport, VirtualTimeScheduler.IScheduledEvent
{
    private readonly SimulatedNetwork _network;
    private IDatagramReceiver? _receiver;
    private int _wakePending;
    private int _state; // 0 attached, 1 closed, 2 crashed

    internal SimulatedTransport(SimulatedNetwork network, int index, IPEndPoint endPoint, double x, double y)
    {
        _network = network;
        Index = index;
        EndPoint = endPoint;
        Address = endPoint.Serialize();
        X = x;
        Y = y;
        LocalEndpoints = [endPoint];
    }

    /// <summary>The network this endpoint belongs to.</summary>
    public SimulatedNetwork Network => _network;

    /// <summary>Creation order within the network, from 0; stable for a given seed and program.</summary>
    public int Index { get; }

    /// <summary>The address peers send to.</summary>
    public IPEndPoint EndPoint { get; }

    /// <inheritdoc/>
    public IReadOnlyList<IPEndPoint> LocalEndpoints { get; }

    /// <inheritdoc/>
    public int MaxDatagramSize => _network.MaxDatagramSize;

    /// <inheritdoc/>
    public AddressFamily AddressFamily => EndPoint.AddressFamily;

    /// <summary>True until the transport is closed or crashed.</summary>
    public bool IsAttached => Volatile.Read(ref _state) == 0;

    /// <summary>True when <see cref="SimulatedNetwork.Crash"/> took this endpoint down.</summary>
    public bool IsCrashed => Volatile.Read(ref _state) == 2;

    /// <summary>Datagrams this transport accepted for sending.</summary>
    public long DatagramsSent { get; internal set; }

    /// <summary>Datagrams delivered to this transport's receiver.</summary>
    public long DatagramsReceived { get; internal set; }

    /// <summary>The address in native form, for lookups and as the source of what this endpoint sends. Never handed out.</summary>
    internal SocketAddress Address { get; }

    /// <summary>Position in the unit square, for <see cref="LinkProfile.Spread"/>.</summary>
    internal double X { get; }

    /// <inheritdoc cref="X"/>
    internal double Y { get; }

    /// <summary>Partition group; datagrams flow only within a group.</summary>
    internal int Partition { get; set; }

    internal IDatagramReceiver? Receiver => _receiver;

    /// <inheritdoc/>
    public void Start(IDatagramReceiver receiver)
    {
        ArgumentNullException.ThrowIfNull(receiver);
        if (!IsAttached)
        {
            throw new InvalidOperationException($"The simulated transport {EndPoint} is closed; create a new one to restart the node.");
        }

        if (Interlocked.CompareExchange(ref _receiver, receiver, null) is not null)
        {
            throw new InvalidOperationException($"The simulated transport {EndPoint} was already started.");
        }
    }

    /// <inheritdoc/>
    /// <remarks>Allowed before <see cref="Start"/>, as with a bound socket.</remarks>
    public bool TrySend(ReadOnlySpan<byte> datagram, SocketAddress destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        return _network.Send(this, datagram, destination);
    }

    /// <inheritdoc/>
    public void Wake()
    {
        if (_receiver is null || !IsAttached)
        {
            return;
        }

        // Coalesce: one wake event in the queue at a time; it clears the flag before calling the receiver, so a
        // wake requested during OnWake gets a wake of its own.
        if (Interlocked.Exchange(ref _wakePending, 1) == 0)
        {
            _network.Scheduler.Schedule(0, this, 0, 0);
        }
    }

    /// <inheritdoc/>
    /// <remarks>Datagrams already in flight to this endpoint are dropped when they arrive.</remarks>
    public ValueTask CloseAsync()
    {
        Detach(crashed: false);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => CloseAsync();

    /// <inheritdoc/>
    public override string ToString() => $"sim#{Index} {EndPoint}";

    /// <summary>Takes the endpoint off the network. Returns false when it already was.</summary>
    internal bool Detach(bool crashed)
    {
        if (Interlocked.CompareExchange(ref _state, crashed ? 2 : 1, 0) != 0)
        {
            return false;
        }

        _network.Remove(this);
        return true;
    }

    void VirtualTimeScheduler.IScheduledEvent.Run(long argument, int generation)
    {
        Volatile.Write(ref _wakePending, 0);
        if (IsAttached)
        {
            _receiver?.OnWake();
        }
    }
}
