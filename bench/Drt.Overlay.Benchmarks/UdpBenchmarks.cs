using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using Drt.Overlay.Transport;

namespace Drt.Overlay.Benchmarks;

/// <summary>
/// A 100-byte datagram to a loopback peer that echoes it back, through <see cref="UdpTransport"/>, against the same
/// round trip over two bare sockets using the same <see cref="SocketAddress"/> calls (the baseline): the ratio is
/// what the transport's receive thread, address handling and counters cost.
/// </summary>
[MemoryDiagnoser]
public class UdpBenchmarks
{
    private readonly byte[] _payload = new byte[100];
    private readonly byte[] _reply = new byte[2048];
    private Socket _client = null!;
    private Socket _server = null!;
    private Thread _echoThread = null!;
    private SocketAddress _serverAddress = null!;
    private SocketAddress _from = null!;
    private volatile bool _stopping;

    private UdpTransport _a = null!;
    private UdpTransport _b = null!;
    private Counter _arrivals = null!;
    private SocketAddress _bAddress = null!;

    [GlobalSetup]
    public void Setup()
    {
        _server = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _serverAddress = _server.LocalEndPoint!.Serialize();
        _from = new SocketAddress(AddressFamily.InterNetwork);
        _server.ReceiveTimeout = 500;
        _echoThread = new Thread(Echo) { IsBackground = true };
        _echoThread.Start();

        _a = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.Loopback });
        _b = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.Loopback });
        _arrivals = new Counter();
        _a.Start(_arrivals);
        _b.Start(new Echoer(_b));
        _bAddress = _b.LocalEndpoints[0].Serialize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stopping = true;
        _echoThread.Join();
        _client.Dispose();
        _server.Dispose();
        _a.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _b.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Bare sockets: send, the echo thread answers, block in ReceiveFrom for the answer.</summary>
    [Benchmark(Baseline = true)]
    public int BareSocketRoundTrip()
    {
        _client.SendTo(_payload, SocketFlags.None, _serverAddress);
        return _client.ReceiveFrom(_reply, SocketFlags.None, _from);
    }

    /// <summary>UdpTransport on both ends: TrySend, the peer's receiver echoes, wait for our receiver to see it.</summary>
    [Benchmark]
    public long TransportRoundTrip()
    {
        long expected = _arrivals.Value + 1;
        _a.TrySend(_payload, _bAddress);
        var spin = new SpinWait();
        while (_arrivals.Value < expected)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }

        return expected;
    }

    private void Echo()
    {
        var from = new SocketAddress(AddressFamily.InterNetwork);
        byte[] buffer = new byte[2048];
        while (!_stopping)
        {
            try
            {
                int length = _server.ReceiveFrom(buffer, SocketFlags.None, from);
                _server.SendTo(buffer.AsSpan(0, length), SocketFlags.None, from);
            }
            catch (SocketException)
            {
                // The receive timeout: look at the stop flag again.
            }
        }
    }

    private sealed class Echoer(UdpTransport self) : IDatagramReceiver
    {
        public void OnDatagram(ReadOnlyMemory<byte> datagram, SocketAddress source) => self.TrySend(datagram.Span, source);

        public void OnWake()
        {
        }
    }

    private sealed class Counter : IDatagramReceiver
    {
        private long _value;

        public long Value => Volatile.Read(ref _value);

        public void OnDatagram(ReadOnlyMemory<byte> datagram, SocketAddress source) => Interlocked.Increment(ref _value);

        public void OnWake()
        {
        }
    }
}
