using System.Net;
using System.Net.Sockets;
using Drt.Overlay.Engine;
using Drt.Overlay.Transport;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;
using Xunit;

namespace Drt.Overlay.Simulation.Tests.Engine;

/// <summary>
/// The instance's states (Alone, Active, NoNetwork, Faulted) and its keys' lifecycle (register while alone, unregister)
/// with the events an application hears, on the simulated network in virtual time.
/// </summary>
public sealed class LifecycleTests
{
    private static readonly LinkProfile s_wan = RingExperiment.Wan;
    private static readonly TimeSpan s_period = new EngineOptions().MaintenancePeriod;

    [Fact]
    public void AnInstanceWhoseBootstrapIsNotUpStaysAloneSolicitingWithBackoffAndPublishesItsKeyOnceActive()
    {
        const int Seed = 51;
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, Seed, s_wan);
        SimulatedTransport first = network.CreateTransport();
        SimulatedTransport second = network.CreateTransport();
        int solicits = 0;
        network.Filter = (from, to, datagram) =>
        {
            solicits += to == first && WireHeader.TryRead(datagram, new EngineOptions().WireContext, out WireHeader h) == DecodeStatus.Ok && h.Type == MessageType.Solicit ? 1 : 0;
            return true;
        };

        var random = new Random(Seed);
        Key256 early = Key256.Random(random);
        var statuses = new List<(EngineStatus Old, EngineStatus New)>();
        Overlay.Engine.Engine late = StartAndJoin(new EngineOptions { Bootstrap = [first.EndPoint] }, second, scheduler, Seed + 1, early, (old, next) => statuses.Add((old, next)));

        // Two minutes with no one at the bootstrap address: solicits at about 0, 1, 3, 7, 15, 31 and 63 s.
        scheduler.RunFor(TimeSpan.FromMinutes(2));
        Assert.Equal(EngineStatus.Alone, late.Status);
        Assert.InRange(solicits, 6, 9);

        // The bootstrap node comes up: the next solicit finds it, and the key registered while alone is published.
        Overlay.Engine.Engine bootstrap = StartAndJoin(new EngineOptions(), first, scheduler, Seed + 2, Key256.Random(random));
        scheduler.RunFor(TimeSpan.FromMinutes(2));

        Assert.Equal(EngineStatus.Active, late.Status);
        Assert.Equal(EngineStatus.Active, bootstrap.Status);
        Assert.Equal([(EngineStatus.Alone, EngineStatus.Active)], statuses);
        SearchOutcome outcome = Search(scheduler, bootstrap, SearchRequest.Exact(early));
        Assert.Equal(early, Assert.Single(outcome.Results).Key);
    }

    [Fact]
    public void AnUnregisteredKeyLeavesEveryLeafSetWithEventsAndIsNoLongerFound()
    {
        const int Seed = 52;
        var ring = new JoinedRing(Seed, s_wan);
        ring.JoinOneByOne(40, TimeSpan.FromMilliseconds(300));
        ring.Scheduler.RunFor(3 * s_period);
        Assert.Equal(0, ring.CountWrongLeafSets(out string first));

        var events = new List<(JoinedRing.Node At, LeafSetChange Change)>();
        foreach (JoinedRing.Node node in ring.Nodes)
        {
            node.Engine.LeafSetChanged = change => events.Add((node, change));
        }

        JoinedRing.Node leaving = ring.Nodes[17];
        List<JoinedRing.Node> holders = ring.Nodes.FindAll(n => n != leaving && n.Engine.Keys[0].LeafSet.Contains(leaving.Key));
        leaving.Engine.Post(now => leaving.Engine.RemoveLocalKey(leaving.Key, now));
        leaving.Alive = false; // for the oracle: it registers nothing now
        ring.Scheduler.RunFor(s_period);

        // Each holder heard it leave (with the owner's endpoint), and took in the key that fills the gap.
        foreach (JoinedRing.Node holder in holders)
        {
            Assert.Contains(events, e => e.At == holder && !e.Change.Added && e.Change.RemoteKey == leaving.Key && e.Change.Endpoint!.Port == leaving.Transport.EndPoint.Port);
            Assert.Contains(events, e => e.At == holder && e.Change.Added);
        }

        Assert.True(ring.CountWrongLeafSets(out first) == 0, $"seed {Seed}: {first}");
        SearchOutcome? outcome = ring.Search(ring.Nodes[3], SearchRequest.Exact(leaving.Key), TimeSpan.FromMinutes(1));
        Assert.NotNull(outcome);
        Assert.Empty(outcome.Results);
        Assert.Throws<DrtException>(() => leaving.Engine.RemoveLocalKey(leaving.Key, 0));
    }

    [Fact]
    public void AnInstanceThatLosesEveryPeerGoesAloneAndSolicitsItsBootstrapAgain()
    {
        const int Seed = 53;
        var ring = new JoinedRing(Seed, s_wan);
        ring.JoinOneByOne(2, TimeSpan.FromSeconds(1));
        ring.Scheduler.RunFor(2 * s_period);
        JoinedRing.Node survivor = ring.Nodes[1];
        Assert.Equal(EngineStatus.Active, survivor.Engine.Status);
        var statuses = new List<EngineStatus>();
        survivor.Engine.StatusChanged = (_, next) => statuses.Add(next);

        ring.Crash(ring.Nodes[0]);
        ring.Scheduler.RunFor(4 * s_period);

        Assert.Equal([EngineStatus.Alone], statuses);
        Assert.False(survivor.Engine.Joined);
        Assert.True(ring.Network.Statistics.DroppedUnreachable > 0);
    }

    [Fact]
    public void WithNoNetworkTheInstanceSaysNoNetworkAndRecoversByItself()
    {
        const int Seed = 54;
        var ring = new JoinedRing(Seed, s_wan);
        ring.JoinOneByOne(6, TimeSpan.FromSeconds(1));
        ring.Scheduler.RunFor(2 * s_period);

        // One more instance over a network card that can be pulled.
        var card = new Unplugged(ring.Network.CreateTransport());
        var statuses = new List<EngineStatus>();
        Key256 key = Key256.Random(ring.Random);
        Overlay.Engine.Engine engine = StartAndJoin(new EngineOptions { Bootstrap = [ring.Nodes[0].Transport.EndPoint] }, card, ring.Scheduler, Seed, key, (_, next) => statuses.Add(next));
        ring.Scheduler.RunFor(2 * s_period);
        Assert.Equal(EngineStatus.Active, engine.Status);

        card.Down = true;
        ring.Scheduler.RunFor(10 * s_period);
        Assert.Equal(EngineStatus.NoNetwork, engine.Status);

        card.Down = false;
        ring.Scheduler.RunFor(10 * s_period);
        Assert.Equal(EngineStatus.Active, engine.Status);
        Assert.Equal([EngineStatus.Active, EngineStatus.NoNetwork], statuses.Take(2));
        Assert.Equal(EngineStatus.Active, statuses[^1]);
        SearchOutcome? outcome = ring.Search(ring.Nodes[2], SearchRequest.Exact(key), TimeSpan.FromMinutes(1));
        Assert.Equal(key, Assert.Single(outcome!.Results).Key);
    }

    [Fact]
    public void AnInternalErrorFaultsTheInstanceEveryCallThenFailsAndDatagramsAreIgnored()
    {
        const int Seed = 55;
        var ring = new JoinedRing(Seed, s_wan);
        ring.JoinOneByOne(5, TimeSpan.FromSeconds(1));
        ring.Scheduler.RunFor(2 * s_period);
        Overlay.Engine.Engine engine = ring.Nodes[2].Engine;
        var statuses = new List<EngineStatus>();
        engine.StatusChanged = (_, next) => statuses.Add(next);

        engine.Post(_ => throw new InvalidOperationException("a bug"));
        ring.Scheduler.RunFor(TimeSpan.FromSeconds(1));
        long sent = engine.Counters.Sent;
        ring.Scheduler.RunFor(3 * s_period);

        Assert.Equal(EngineStatus.Faulted, engine.Status);
        Assert.Equal([EngineStatus.Faulted], statuses);
        Assert.Equal("a bug", engine.FaultedBy!.Message);
        Assert.Equal(sent, engine.Counters.Sent);
        DrtException error = Assert.Throws<DrtException>(() => engine.AddLocalKey(Key256.One, [1], 0));
        Assert.Equal(DrtError.Faulted, error.Error);
        Assert.Equal(DrtError.Faulted, Assert.Throws<DrtException>(() => engine.StartSearch(SearchRequest.Exact(Key256.One), _ => { }, 0)).Error);
        Assert.Equal(DrtError.Faulted, Assert.Throws<DrtException>(() => engine.Route(Key256.One, 0, [1], 0)).Error);
    }

    [Theory]
    [InlineData(56)]
    [InlineData(57)]
    public void WhileKeysJoinEveryMessageIsDeliveredOnceAtTheClosestKeyThatAnswersForItsRange(int seed)
    {
        var ring = new JoinedRing(seed, s_wan);
        ring.JoinOneByOne(150, TimeSpan.FromMilliseconds(200));
        ring.Scheduler.RunFor(3 * s_period);

        // At each delivery, the oracle: the live keys that have finished joining, at that moment.
        var deliveries = new int[400];
        var misdelivered = new List<string>();
        void Listen(JoinedRing.Node node) => node.Engine.DeliverHandler = (in RoutedMessage message, Key256 root) =>
        {
            int sequence = BitConverter.ToInt32(message.Payload.Span);
            deliveries[sequence]++;
            Key256 target = message.Target;
            JoinedRing.Node closest = ring.LiveNodes
                .Where(n => n.Engine.Keys.Count > 0 && !n.Engine.Keys[0].Joining)
                .MinBy(n => n.Key, Comparer<Key256>.Create((a, b) => Key256.CompareCloseness(target, a, b)))!;
            if (closest.Key != root || node.Engine.Keys[0].Joining)
            {
                misdelivered.Add($"message {sequence} delivered at {root.ToShortString()}{(node.Engine.Keys[0].Joining ? " (joining)" : "")}, closest answering key {closest.Key.ToShortString()}");
            }
        };
        ring.Nodes.ForEach(Listen);

        // Thirty keys join at once while messages for targets next to them are routed from established nodes.
        List<JoinedRing.Node> joiners = [];
        for (int i = 0; i < 30; i++)
        {
            JoinedRing.Node joiner = ring.Join(bootstrapFrom: ring.Random.Next(150));
            Listen(joiner);
            joiners.Add(joiner);
        }

        for (int i = 0; i < deliveries.Length; i++)
        {
            Key256 near = joiners[i % joiners.Count].Key;
            Key256 target = (i & 1) == 0 ? near + new Key256(0, 0, 0, (ulong)ring.Random.NextInt64()) : near - new Key256(0, 0, 0, (ulong)ring.Random.NextInt64());
            ring.Route(ring.Nodes[ring.Random.Next(150)], target, BitConverter.GetBytes(i));
            ring.Scheduler.RunFor(TimeSpan.FromMilliseconds(25));
        }

        ring.Scheduler.RunFor(2 * s_period);

        Assert.True(misdelivered.Count == 0, $"seed {seed}: {misdelivered.Count} misdelivered; first: {misdelivered.FirstOrDefault()}");
        Assert.True(deliveries.All(d => d == 1), $"seed {seed}: {deliveries.Count(d => d == 0)} never delivered, {deliveries.Count(d => d > 1)} more than once");
        Assert.All(joiners, j => Assert.False(j.Engine.Keys[0].Joining, $"seed {seed}: {j.Key.ToShortString()} still joining"));
        Assert.Equal(0, ring.Nodes.Sum(n => n.Engine.Counters.ConfirmTimeouts));
        Assert.Equal(0, ring.CountWrongLeafSets(out string first));
    }

    [Fact]
    public void AMessageWaitingForAKeyThatNeverFinishesJoiningIsDeliveredAfterTwoPeriods()
    {
        const int Seed = 58;
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, Seed, s_wan);
        SimulatedTransport nobody = network.CreateTransport();
        Key256 key = Key256.Random(new Random(Seed));
        Overlay.Engine.Engine engine = StartAndJoin(new EngineOptions { Bootstrap = [nobody.EndPoint] }, network.CreateTransport(), scheduler, Seed, key);
        var delivered = new List<TimeSpan>();
        engine.DeliverHandler = (in RoutedMessage _, Key256 _) => delivered.Add(scheduler.Elapsed);
        engine.Post(now => engine.Route(key, 0, [1, 2, 3], now));

        scheduler.RunFor(s_period);
        Assert.Empty(delivered);
        Assert.True(engine.Keys[0].Joining);

        scheduler.RunFor(3 * s_period);
        Assert.Single(delivered);
        Assert.InRange(delivered[0], 2 * s_period, 4 * s_period);
    }

    [Fact]
    public void AnEngineWhoseTimerFiresALittleEarlyKeepsMaintaining()
    {
        // Real timers may fire before the engine's clock reaches the deadline; the engine once went to sleep for good.
        const int Seed = 59;
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, Seed, s_wan);
        var early = new EarlyTimeProvider(scheduler);
        SimulatedTransport first = network.CreateTransport();
        var random = new Random(Seed);
        Overlay.Engine.Engine a = StartAndJoin(new EngineOptions(), first, early, Seed, Key256.Random(random));
        Overlay.Engine.Engine b = StartAndJoin(new EngineOptions { Bootstrap = [first.EndPoint] }, network.CreateTransport(), early, Seed + 1, Key256.Random(random));
        scheduler.RunFor(3 * s_period);
        long sent = a.Counters.MaintenanceSent + b.Counters.MaintenanceSent;

        scheduler.RunFor(10 * s_period);

        Assert.Equal(EngineStatus.Active, a.Status);
        Assert.True(a.Counters.MaintenanceSent + b.Counters.MaintenanceSent - sent >= 20, $"seed {Seed}: {a.Counters.MaintenanceSent + b.Counters.MaintenanceSent - sent} maintenance datagrams in ten periods");
    }

    /// <summary>Starts an engine that registers <paramref name="key"/> and joins; <paramref name="statusChanged"/> hears it from the start.</summary>
    private static Overlay.Engine.Engine StartAndJoin(EngineOptions options, IDatagramTransport transport, TimeProvider time, int seed, Key256 key, Action<EngineStatus, EngineStatus>? statusChanged = null)
    {
        var engine = new Overlay.Engine.Engine(options, transport, time, new Random(seed), new SeededRandomNumberGenerator(seed))
        {
            StatusChanged = statusChanged,
        };
        engine.Start();
        engine.Post(now =>
        {
            engine.AddLocalKey(key, JoinedRing.AppDataOf(key), now);
            engine.Join(now);
        });
        return engine;
    }

    private static SearchOutcome Search(VirtualTimeScheduler scheduler, Overlay.Engine.Engine from, SearchRequest request)
    {
        SearchOutcome? outcome = null;
        from.Post(now => from.StartSearch(request, o => outcome = o, now));
        scheduler.RunUntil(() => outcome is not null, TimeSpan.FromMinutes(1));
        return outcome ?? throw new InvalidOperationException("the search did not complete");
    }

    /// <summary>A network card that can be pulled: while down, nothing is sent or received.</summary>
    private sealed class Unplugged(SimulatedTransport inner) : IDatagramTransport, IDatagramReceiver
    {
        private IDatagramReceiver? _receiver;

        public bool Down { get; set; }

        public IReadOnlyList<IPEndPoint> LocalEndpoints => inner.LocalEndpoints;

        public int MaxDatagramSize => inner.MaxDatagramSize;

        public AddressFamily AddressFamily => inner.AddressFamily;

        public void Start(IDatagramReceiver receiver)
        {
            _receiver = receiver;
            inner.Start(this);
        }

        public bool TrySend(ReadOnlySpan<byte> datagram, SocketAddress destination) => !Down && inner.TrySend(datagram, destination);

        public void Wake() => inner.Wake();

        public ValueTask CloseAsync() => inner.CloseAsync();

        public ValueTask DisposeAsync() => inner.DisposeAsync();

        public void OnDatagram(ReadOnlyMemory<byte> datagram, SocketAddress source)
        {
            if (!Down)
            {
                _receiver!.OnDatagram(datagram, source);
            }
        }

        public void OnWake() => _receiver!.OnWake();
    }

    /// <summary>Virtual time whose timers fire a millisecond before they are due, as real ones sometimes do.</summary>
    private sealed class EarlyTimeProvider(VirtualTimeScheduler inner) : TimeProvider
    {
        public override long TimestampFrequency => inner.TimestampFrequency;

        public override long GetTimestamp() => inner.GetTimestamp();

        public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            new EarlyTimer(inner.CreateTimer(callback, state, Early(dueTime), period));

        private static TimeSpan Early(TimeSpan due) => due > TimeSpan.FromMilliseconds(1) ? due - TimeSpan.FromMilliseconds(1) : due;

        private sealed class EarlyTimer(ITimer timer) : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => timer.Change(Early(dueTime), period);

            public void Dispose() => timer.Dispose();

            public ValueTask DisposeAsync() => timer.DisposeAsync();
        }
    }
}
