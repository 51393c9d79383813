using System.Net;
using System.Net.Sockets;

namespace Drt.Overlay.Transport;

/// <summary>
/// Carries datagrams between nodes: real UDP sockets (<c>UdpTransport</c>) or the simulated network.
/// The engine runs unchanged on either.
/// </summary>
/// <remarks>
/// Addresses are <see cref="SocketAddress"/> end to end so that the steady-state path allocates nothing:
/// a receiver finds a peer by the address bytes and keeps its own copy when it needs one.
/// </remarks>
public interface IDatagramTransport : IAsyncDisposable
{
    /// <summary>The endpoints this transport receives on; known once <see cref="Start"/> has returned.</summary>
    IReadOnlyList<IPEndPoint> LocalEndpoints { get; }

    /// <summary>The largest datagram <see cref="TrySend"/> accepts and a receiver can be handed.</summary>
    int MaxDatagramSize { get; }

    /// <summary>The address family of the addresses this transport sends to and reports as sources.</summary>
    AddressFamily AddressFamily { get; }

    /// <summary>
    /// Starts delivering datagrams to <paramref name="receiver"/>. Deliveries for one transport never overlap:
    /// the receiver is called from one thread at a time.
    /// </summary>
    /// <exception cref="InvalidOperationException">The transport was already started or is closed.</exception>
    void Start(IDatagramReceiver receiver);

    /// <summary>
    /// Sends one datagram. Safe to call from any thread. Returns false when the datagram could not be handed
    /// to the network (closed, too large, a transient socket error); the failure is counted, never thrown.
    /// </summary>
    bool TrySend(ReadOnlySpan<byte> datagram, SocketAddress destination);

    /// <summary>
    /// Asks the transport to call <see cref="IDatagramReceiver.OnWake"/> on its delivery thread soon. Safe to call
    /// from any thread; requests made before the wake is delivered coalesce into one call. The engine uses it to run
    /// queued commands and due timers on the thread that owns its state. Ignored when not started or closed.
    /// </summary>
    void Wake();

    /// <summary>Stops receiving and releases the socket; idempotent. Pending deliveries finish first.</summary>
    ValueTask CloseAsync();
}

/// <summary>Receives datagrams from an <see cref="IDatagramTransport"/>.</summary>
public interface IDatagramReceiver
{
    /// <summary>
    /// One datagram arrived. <paramref name="datagram"/> and <paramref name="source"/> belong to the transport
    /// and are valid only until this call returns: copy what must outlive it.
    /// </summary>
    void OnDatagram(ReadOnlyMemory<byte> datagram, SocketAddress source);

    /// <summary>
    /// Called on the delivery thread after <see cref="IDatagramTransport.Wake"/>, never overlapping
    /// <see cref="OnDatagram"/>.
    /// </summary>
    void OnWake();
}
