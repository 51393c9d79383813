using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using Drt.Overlay.Engine;
using Drt.Overlay.Transport;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Benchmarks;

/// <summary>
/// Recursive routing through one engine, the hot path of key-based routing: a Route arrives, the engine acknowledges
/// it, picks the next hop (routing table, leaf set) and forwards it; the next hop's RouteAck frees the slot. The
/// transport is a stub that keeps the last datagram sent, so the figure is the engine's own work per hop. Baseline:
/// the same datagrams through the codec alone (encode and decode a Route and a RouteAck).
/// </summary>
[MemoryDiagnoser]
public class RoutingBenchmarks
{
    private readonly PooledBufferWriter _buffer = new(2048);
    private readonly byte[] _payload = new byte[100];
    private readonly WireContext _context = new EngineOptions().WireContext;
    private Overlay.Engine.Engine _engine = null!;
    private IDatagramReceiver _receiver = null!;
    private StubTransport _transport = null!;
    private SocketAddress _previousHop = null!;
    private Key256 _farTarget;
    private Key256 _ownKey;
    private WireEndpoint _origin;
    private ulong _routeId;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _previousHop = new IPEndPoint(IPAddress.Parse("127.0.9.9"), 5000).Serialize();
        _transport = new StubTransport(new IPEndPoint(IPAddress.Loopback, 4000), _previousHop);
        _engine = new Overlay.Engine.Engine(new EngineOptions(), _transport, TimeProvider.System, new Random(2));
        _engine.Start();
        _receiver = _engine;
        _ownKey = Key256.Random(random);
        _engine.AddLocalKey(_ownKey, [1, 2, 3], _engine.Now());

        // A ring of 200 others, as a node of a large ring knows them: leaf set and routing table.
        Key256[] others = [.. Enumerable.Range(0, 200).Select(_ => Key256.Random(random))];
        for (int i = 0; i < others.Length; i++)
        {
            // One /24 each, as peers across the internet would be (the per-subnet cap does not thin the table).
            _engine.Admit(others[i], new IPEndPoint(IPAddress.Parse($"127.{1 + i}.0.1"), 5000), rttMicros: 1000 + i);
        }

        _engine.DeliverHandler = static (in RoutedMessage _, Key256 _) => { };
        _farTarget = others.MaxBy(k => Key256.RingDistance(k, _ownKey))!;
        _origin = WireEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse("127.0.9.9"), 5000));
    }

    [GlobalCleanup]
    public void Cleanup() => _engine.StopAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>Baseline: the codec's share — a Route and a RouteAck encoded and decoded.</summary>
    [Benchmark(Baseline = true)]
    public int CodecOnly()
    {
        WireCodec.TryDecode(EncodeRouteMemory(_farTarget), _context, out _, out Route _);
        ReadOnlySpan<byte> ack = WireCodec.Encode(WireHeader.Create(_context, MessageType.RouteAck, 7), new RouteAck(RouteAckStatus.Accepted), _buffer);
        WireCodec.TryDecode(_transport.Keep(ack), _context, out _, out RouteAck decoded);
        return (int)decoded.Status;
    }

    /// <summary>One hop: receive a Route, acknowledge it, forward it to the next hop, take that hop's ack.</summary>
    [Benchmark]
    public long ForwardOneHop()
    {
        _transport.ForwardTo = null;
        _receiver.OnDatagram(EncodeRouteMemory(_farTarget), _previousHop);

        // The next hop acknowledges the forward under its message id.
        ulong forwardId = BinaryPrimitives.ReadUInt64BigEndian(_transport.Forward.AsSpan(WireHeader.MessageIdOffset));
        ReadOnlySpan<byte> ack = WireCodec.Encode(WireHeader.Create(_context, MessageType.RouteAck, forwardId), new RouteAck(RouteAckStatus.Accepted), _buffer);
        _receiver.OnDatagram(_transport.Keep(ack), _transport.ForwardTo!);
        return _engine.Counters.RoutesForwarded;
    }

    /// <summary>The last hop: receive a Route for our own key, deliver it, acknowledge it as delivered.</summary>
    [Benchmark]
    public long DeliverAtRoot()
    {
        _receiver.OnDatagram(EncodeRouteMemory(_ownKey), _previousHop);
        return _engine.Counters.RoutesDelivered;
    }

    /// <summary>A Route with a fresh route id (a repeated one would be taken for a duplicate), in the receive buffer.</summary>
    private ReadOnlyMemory<byte> EncodeRouteMemory(Key256 target)
    {
        WireHeader header = WireHeader.Create(_context, MessageType.Route, 1);
        var route = new Route(++_routeId, target, Route.DefaultTtl, 1, _origin, 0, _payload);
        return _transport.Keep(WireCodec.Encode(header, route, _buffer));
    }

    /// <summary>
    /// A transport that sends nowhere: it keeps the datagram sent to anyone but the previous hop (the forward) and
    /// where it went.
    /// </summary>
    private sealed class StubTransport(IPEndPoint local, SocketAddress previousHop) : IDatagramTransport
    {
        private readonly byte[] _in = new byte[2048];

        public byte[] Forward { get; } = new byte[2048];

        public SocketAddress? ForwardTo { get; set; }

        public IReadOnlyList<IPEndPoint> LocalEndpoints { get; } = [local];

        public int MaxDatagramSize => 1232;

        public AddressFamily AddressFamily => AddressFamily.InterNetwork;

        /// <summary>Copies a datagram into the receive buffer, as a socket would have.</summary>
        public ReadOnlyMemory<byte> Keep(ReadOnlySpan<byte> datagram)
        {
            datagram.CopyTo(_in);
            return _in.AsMemory(0, datagram.Length);
        }

        public void Start(IDatagramReceiver receiver)
        {
        }

        public bool TrySend(ReadOnlySpan<byte> datagram, SocketAddress destination)
        {
            if (!destination.Equals(previousHop))
            {
                datagram.CopyTo(Forward);
                ForwardTo = destination;
            }

            return true;
        }

        public void Wake()
        {
        }

        public ValueTask CloseAsync() => ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
