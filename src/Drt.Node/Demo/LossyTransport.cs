using System.Net;
using System.Net.Sockets;
using Drt.Overlay.Transport;

namespace Drt.Node.Demo;

/// <summary>
/// A real UDP transport that loses a fraction of what it sends, as a lossy network would (the datagram is counted
/// as sent and silently not handed to the socket). For <c>drt demo --loss</c>; seeded, so a run can be repeated.
/// </summary>
internal sealed class LossyTransport(UdpTransport inner, double loss, int seed) : IDatagramTransport
{
    private readonly Random _random = new(seed);
    private readonly Lock _gate = new();

    /// <summary>Datagrams dropped so far.</summary>
    public long Dropped { get; private set; }

    /// <inheritdoc/>
    public IReadOnlyList<IPEndPoint> LocalEndpoints => inner.LocalEndpoints;

    /// <inheritdoc/>
    public int MaxDatagramSize => inner.MaxDatagramSize;

    /// <inheritdoc/>
    public AddressFamily AddressFamily => inner.AddressFamily;

    /// <inheritdoc/>
    public void Start(IDatagramReceiver receiver) => inner.Start(receiver);

    /// <inheritdoc/>
    public bool TrySend(ReadOnlySpan<byte> datagram, SocketAddress destination)
    {
        lock (_gate)
        {
            if (_random.NextDouble() < loss)
            {
                Dropped++;
                return true; // lost on the way, as far as the sender can tell
            }
        }

        return inner.TrySend(datagram, destination);
    }

    /// <inheritdoc/>
    public void Wake() => inner.Wake();

    /// <inheritdoc/>
    public ValueTask CloseAsync() => inner.CloseAsync();

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
