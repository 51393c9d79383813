using System.Net;
using Drt.Overlay.Transport;

namespace Drt.Overlay.Simulation.Tests;

/// <summary>Remembers every datagram (bytes, source, virtual time) and wake it is handed.</summary>
internal sealed class RecordingReceiver(VirtualTimeScheduler scheduler) : IDatagramReceiver
{
    public List<Received> Datagrams { get; } = [];

    public List<TimeSpan> Wakes { get; } = [];

    public Action<ReadOnlyMemory<byte>, SocketAddress>? OnReceive { get; set; }

    public void OnDatagram(ReadOnlyMemory<byte> datagram, SocketAddress source)
    {
        Datagrams.Add(new Received(datagram.ToArray(), ToEndPoint(source), scheduler.Elapsed));
        OnReceive?.Invoke(datagram, source);
    }

    public static IPEndPoint ToEndPoint(SocketAddress address) =>
        (IPEndPoint)new IPEndPoint(address.Family == System.Net.Sockets.AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0).Create(address);

    public void OnWake() => Wakes.Add(scheduler.Elapsed);

    public sealed record Received(byte[] Bytes, IPEndPoint Source, TimeSpan At);
}
