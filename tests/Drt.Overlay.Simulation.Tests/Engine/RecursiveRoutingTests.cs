using Drt.Overlay.Engine;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;
using Xunit;

namespace Drt.Overlay.Simulation.Tests.Engine;

/// <summary>
/// Recursive key-based routing on the simulated network: messages reach the live key nearest their target once, around
/// crashed hops and through loss, under the TTL, through the hooks, and without allocating in steady state.
/// </summary>
public sealed class RecursiveRoutingTests
{
    private static readonly LinkProfile s_wan = RingExperiment.Wan;

    [Theory]
    [InlineData(31)]
    [InlineData(32)]
    public void EveryMessageReachesTheRootOfItsTargetExactlyOnce(int seed)
    {
        StaticRing ring = StaticRing.Build(seed, count: 300, s_wan);
        Deliveries deliveries = Deliveries.Listen(ring.Nodes);
        Key256[] expected = RouteToRandomTargets(ring, new Random(seed + 1), 500);
        ring.Scheduler.RunFor(TimeSpan.FromSeconds(30));

        deliveries.AssertEachOnceAt(expected, $"seed {seed}");
        Assert.True(deliveries.Hops.Average() <= Math.Log(300, 16) + 1, $"seed {seed}: mean hops {deliveries.Hops.Average():F2}");
    }

    [Fact]
    public void MessagesReachTheLiveRootAroundCrashedHopsBeforeAnyRepair()
    {
        const int Seed = 33;
        var noMaintenance = new EngineOptions { MaintenancePeriod = TimeSpan.FromHours(1) };
        StaticRing ring = StaticRing.Build(Seed, count: 200, s_wan, options: noMaintenance);
        var random = new Random(Seed + 1);
        var crashed = new HashSet<StaticRing.Node>();
        while (crashed.Count < 20)
        {
            StaticRing.Node victim = ring.Nodes[random.Next(ring.Nodes.Length)];
            if (crashed.Add(victim))
            {
                ring.Network.Crash(victim.Transport);
            }
        }

        StaticRing.Node[] alive = [.. ring.Nodes.Where(n => !crashed.Contains(n))];
        Deliveries deliveries = Deliveries.Listen(alive);
        var expected = new Key256[300];
        int rootsCrashed = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            Key256 target = Key256.Random(random);
            expected[i] = alive.MinBy(n => n.Key, Comparer<Key256>.Create((a, b) => Key256.CompareCloseness(target, a, b)))!.Key;
            rootsCrashed += crashed.Contains(ring.Nearest(target, Key256.Zero, Key256.MaxValue)) ? 1 : 0;
            Route(ring, alive[random.Next(alive.Length)], target, i);
        }

        ring.Scheduler.RunFor(TimeSpan.FromMinutes(2));

        deliveries.AssertEachOnceAt(expected, $"seed {Seed}");
        Assert.True(rootsCrashed > 0, $"seed {Seed}: no message was for a crashed root");
        Assert.True(ring.Nodes.Sum(n => n.Engine.Counters.RouteRetransmits) > 0, $"seed {Seed}: no hop needed an alternative");
    }

    [Fact]
    public void UnderFivePercentLossEachWayMessagesStillArriveOnce()
    {
        const int Seed = 34;
        StaticRing ring = StaticRing.Build(Seed, count: 200, s_wan with { Loss = 0.05, Duplicate = 0.01 });
        Deliveries deliveries = Deliveries.Listen(ring.Nodes);
        Key256[] expected = RouteToRandomTargets(ring, new Random(Seed + 1), 1000);
        ring.Scheduler.RunFor(TimeSpan.FromMinutes(1));

        deliveries.AssertEachOnceAt(expected, $"seed {Seed}", allowedLost: 1);
        Assert.True(ring.Nodes.Sum(n => n.Engine.Counters.RoutesDuplicate) > 0, $"seed {Seed}: no retransmission reached a hop twice");
    }

    [Fact]
    public void TheForwardHookSeesEveryHopAndCanStopTheMessage()
    {
        const int Seed = 35;
        StaticRing ring = StaticRing.Build(Seed, count: 150, s_wan);
        var seen = new List<(Key256 At, Key256 Next, int Hops)>();
        foreach (StaticRing.Node node in ring.Nodes)
        {
            Key256 at = node.Key;
            node.Engine.ForwardHandler = (in RoutedMessage message, Key256 next) =>
            {
                seen.Add((at, next, message.Hops));
                return true;
            };
        }

        Deliveries deliveries = Deliveries.Listen(ring.Nodes);
        StaticRing.Node from = ring.Sorted[0];
        Key256 target = ring.Sorted[75].Key;
        Route(ring, from, target, 0);
        ring.Scheduler.RunFor(TimeSpan.FromSeconds(10));

        // A chain from the origin to the root, each hop one more than the last.
        deliveries.AssertEachOnceAt([target], $"seed {Seed}");
        Assert.Equal(from.Key, seen[0].At);
        Assert.Equal(target, seen[^1].Next);
        for (int i = 0; i < seen.Count; i++)
        {
            Assert.Equal(i, seen[i].Hops);
            Assert.True(i == 0 || seen[i].At == seen[i - 1].Next, $"seed {Seed}: hop {i} is not where hop {i - 1} sent it");
        }

        Assert.Equal(seen.Count, deliveries.Hops[0]);

        // The origin's hook takes the next message: it goes nowhere.
        from.Engine.ForwardHandler = (in RoutedMessage _, Key256 _) => false;
        Route(ring, from, target, 0);
        ring.Scheduler.RunFor(TimeSpan.FromSeconds(10));
        Assert.Single(deliveries.Hops);
        Assert.Equal(1, from.Engine.Counters.RoutesStopped);
    }

    [Fact]
    public void TheTtlStopsAMessageAndARetransmittedCopyIsDeliveredOnce()
    {
        const int Seed = 36;
        StaticRing ring = StaticRing.Build(Seed, count: 50, s_wan);
        Deliveries deliveries = Deliveries.Listen(ring.Nodes);
        (SimulatedTransport rogue, RecordingReceiver raw) = StartRogue(ring);
        StaticRing.Node root = ring.Nodes[7];
        WireContext context = new EngineOptions().WireContext;
        using var buffer = new PooledBufferWriter();
        var origin = WireEndpoint.FromIPEndPoint(rogue.EndPoint);

        // TTL 0 arriving anywhere: refused, not delivered even at the root.
        Send(rogue, root, WireCodec.Encode(WireHeader.Create(context, MessageType.Route, 1), new Route(11, root.Key, 0, 5, origin, 0, new byte[] { 1, 0, 0, 0 }), buffer), ring.Scheduler);

        // The same message id twice at its root (a hop retransmitting after a lost ack): delivered once.
        for (ulong id = 2; id <= 3; id++)
        {
            Send(rogue, root, WireCodec.Encode(WireHeader.Create(context, MessageType.Route, id), new Route(12, root.Key, 4, 1, origin, 0, new byte[] { 2, 0, 0, 0 }), buffer), ring.Scheduler);
        }

        ring.Scheduler.RunFor(TimeSpan.FromSeconds(5));

        Assert.Equal([RouteAckStatus.TtlExpired, RouteAckStatus.Delivered, RouteAckStatus.Duplicate], AcksIn(raw, context));
        Assert.Equal([(2, root.Key)], deliveries.Received);
        Assert.Equal(1, root.Engine.Counters.RoutesTtlExpired);
    }

    [Fact]
    public void AResolveOnlyInstanceRoutesThroughTheNodesItKnowsButRoutesForNoOne()
    {
        const int Seed = 37;
        StaticRing ring = StaticRing.Build(Seed, count: 100, s_wan);
        Deliveries deliveries = Deliveries.Listen(ring.Nodes);
        SimulatedTransport transport = ring.Network.CreateTransport();
        var resolver = new Overlay.Engine.Engine(new EngineOptions(), transport, ring.Scheduler, new Random(Seed), new SeededRandomNumberGenerator(Seed));
        resolver.Start();
        foreach (StaticRing.Node known in ring.Nodes.Take(10))
        {
            resolver.Admit(known.Key, known.Transport.EndPoint);
        }

        var random = new Random(Seed + 1);
        var expected = new Key256[20];
        var results = new List<RouteResult>();
        for (int i = 0; i < expected.Length; i++)
        {
            Key256 target = Key256.Random(random);
            expected[i] = ring.Nearest(target, Key256.Zero, Key256.MaxValue).Key;
            byte[] payload = BitConverter.GetBytes(i);
            resolver.Post(now => resolver.Route(target, 0, payload, now, results.Add));
        }

        ring.Scheduler.RunFor(TimeSpan.FromSeconds(30));
        deliveries.AssertEachOnceAt(expected, $"seed {Seed}");
        Assert.Equal(expected.Length, results.Count(r => r is RouteResult.Forwarded or RouteResult.Delivered));

        // A route handed to it is refused: it is not a ring member.
        (SimulatedTransport rogue, RecordingReceiver raw) = StartRogue(ring);
        WireContext context = new EngineOptions().WireContext;
        using var buffer = new PooledBufferWriter();
        rogue.TrySend(WireCodec.Encode(WireHeader.Create(context, MessageType.Route, 9), new Route(13, Key256.Zero, 8, 0, WireEndpoint.FromIPEndPoint(rogue.EndPoint), 0, new byte[4]), buffer), transport.EndPoint.Serialize());
        ring.Scheduler.RunFor(TimeSpan.FromSeconds(1));
        Assert.True(WireHeader.TryRead(raw.Datagrams.Single().Bytes, context, out WireHeader header) == DecodeStatus.Ok && header.Type == MessageType.Error);
    }

    [Fact]
    public void ForwardingAllocatesNothingPerMessageInSteadyState()
    {
        const int Seed = 38;
        var noMaintenance = new EngineOptions { MaintenancePeriod = TimeSpan.FromHours(1) };
        // One fixed latency: the simulator's own in-flight storage reaches its peak during the warm-up.
        StaticRing ring = StaticRing.Build(Seed, count: 40, new LinkProfile { Latency = TimeSpan.FromMilliseconds(10) }, options: noMaintenance);
        long delivered = 0;
        foreach (StaticRing.Node node in ring.Nodes)
        {
            node.Engine.DeliverHandler = (in RoutedMessage _, Key256 _) => delivered++;
        }

        var random = new Random(Seed + 1);
        Key256[] targets = [.. Enumerable.Range(0, 64).Select(_ => Key256.Random(random))];
        byte[] payload = new byte[100];
        ring.RouteBatch(targets, payload, 3000); // warm-up: slots, pending tables, peers, the seen-route rings
        long deliveredBefore = delivered;
        (long routesSent, long acksReceived, long routeBytes) = PerTypeCounts(ring);
        long before = GC.GetAllocatedBytesForCurrentThread();
        ring.RouteBatch(targets, payload, 3000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(3000, delivered - deliveredBefore);
        Assert.Equal(0, allocated);

        // The per-type counts (the meter's source) were kept inside the measured window, so they cost nothing either.
        (long routesSentAfter, long acksReceivedAfter, long routeBytesAfter) = PerTypeCounts(ring);
        Assert.True(routesSentAfter - routesSent >= 3000, $"{routesSentAfter - routesSent} routes sent");
        Assert.True(acksReceivedAfter - acksReceived > 0);
        Assert.True(routeBytesAfter - routeBytes > 100 * (routesSentAfter - routesSent), "each route carries its 100-byte payload");
    }

    private static (long RoutesSent, long AcksReceived, long RouteBytes) PerTypeCounts(StaticRing ring)
    {
        long routes = 0;
        long acks = 0;
        long bytes = 0;
        foreach (StaticRing.Node node in ring.Nodes)
        {
            routes += node.Engine.Counters.SentOf(MessageType.Route);
            acks += node.Engine.Counters.ReceivedOf(MessageType.RouteAck);
            bytes += node.Engine.Counters.SentBytesOf(MessageType.Route);
        }

        return (routes, acks, bytes);
    }

    /// <summary>Routes <paramref name="count"/> messages from random nodes to random targets; returns each one's true root.</summary>
    private static Key256[] RouteToRandomTargets(StaticRing ring, Random random, int count)
    {
        var expected = new Key256[count];
        for (int i = 0; i < count; i++)
        {
            Key256 target = Key256.Random(random);
            expected[i] = ring.Nearest(target, Key256.Zero, Key256.MaxValue).Key;
            Route(ring, ring.Nodes[random.Next(ring.Nodes.Length)], target, i);
        }

        return expected;
    }

    private static void Route(StaticRing ring, StaticRing.Node from, Key256 target, int sequence)
    {
        byte[] payload = BitConverter.GetBytes(sequence);
        from.Engine.Post(now => from.Engine.Route(target, 0, payload, now));
        ring.Scheduler.RunFor(TimeSpan.FromMilliseconds(10));
    }

    /// <summary>An endpoint outside the ring that sends crafted datagrams and records what comes back.</summary>
    private static (SimulatedTransport Rogue, RecordingReceiver Received) StartRogue(StaticRing ring)
    {
        var received = new RecordingReceiver(ring.Scheduler);
        SimulatedTransport rogue = ring.Network.CreateTransport();
        rogue.Start(received);
        return (rogue, received);
    }

    /// <summary>Sends a crafted datagram and lets it be answered before the next (the link reorders within a second).</summary>
    private static void Send(SimulatedTransport from, StaticRing.Node to, ReadOnlySpan<byte> datagram, VirtualTimeScheduler scheduler)
    {
        from.TrySend(datagram, to.Transport.EndPoint.Serialize());
        scheduler.RunFor(TimeSpan.FromSeconds(1));
    }

    private static List<RouteAckStatus> AcksIn(RecordingReceiver raw, WireContext context)
    {
        var acks = new List<RouteAckStatus>();
        foreach (RecordingReceiver.Received d in raw.Datagrams)
        {
            if (WireHeader.TryRead(d.Bytes, context, out WireHeader header) == DecodeStatus.Ok
                && WireCodec.TryDecode(d.Bytes, header, out RouteAck ack) == DecodeStatus.Ok)
            {
                acks.Add(ack.Status);
            }
        }

        return acks;
    }

    /// <summary>Every delivery at every node: the payload's sequence number, the root key, the hops.</summary>
    private sealed class Deliveries
    {
        public List<(int Sequence, Key256 Root)> Received { get; } = [];

        public List<int> Hops { get; } = [];

        public static Deliveries Listen(IEnumerable<StaticRing.Node> nodes)
        {
            var deliveries = new Deliveries();
            foreach (StaticRing.Node node in nodes)
            {
                node.Engine.DeliverHandler = (in RoutedMessage message, Key256 root) =>
                {
                    deliveries.Received.Add((BitConverter.ToInt32(message.Payload.Span), root));
                    deliveries.Hops.Add(message.Hops);
                };
            }

            return deliveries;
        }

        public void AssertEachOnceAt(Key256[] expected, string context, int allowedLost = 0)
        {
            var counts = new int[expected.Length];
            foreach ((int sequence, Key256 root) in Received)
            {
                Assert.True(root == expected[sequence], $"{context}: message {sequence} delivered at {root.ToShortString()}, its root is {expected[sequence].ToShortString()}");
                counts[sequence]++;
            }

            Assert.True(counts.All(c => c <= 1), $"{context}: {counts.Count(c => c > 1)} messages delivered more than once");
            int lost = counts.Count(c => c == 0);
            Assert.True(lost <= allowedLost, $"{context}: {lost} of {expected.Length} messages never delivered");
        }
    }
}
