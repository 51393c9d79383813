using Drt.Overlay.Engine;
using Drt.Overlay.Routing;
using Drt.Overlay.Wire;
using Xunit;

namespace Drt.Overlay.Simulation.Tests.Engine;

/// <summary>
/// Rings built by the join protocol (solicit handshake with a bootstrap node, neighbourhood search, announce) and kept
/// by periodic leaf-set maintenance, checked against the oracle of the live keys in order.
/// </summary>
public sealed class JoinAndMaintenanceTests
{
    private static readonly LinkProfile s_wan = new()
    {
        Latency = TimeSpan.FromMilliseconds(5),
        Spread = TimeSpan.FromMilliseconds(60),
        Jitter = TimeSpan.FromMilliseconds(3),
    };

    private static readonly TimeSpan s_period = new EngineOptions().MaintenancePeriod;

    [Theory]
    [InlineData(1, 60)]
    [InlineData(2, 120)]
    public void KeysJoiningOneByOneEndWithTheTrueLeafSetsAndFindEachOther(int seed, int count)
    {
        Ring ring = Ring.Create(seed, s_wan);
        for (int i = 0; i < count; i++)
        {
            ring.Join(bootstrapFrom: i == 0 ? -1 : ring.Random.Next(i));
            ring.Scheduler.RunFor(TimeSpan.FromMilliseconds(500));
        }

        ring.Scheduler.RunFor(2 * s_period);
        ring.AssertLeafSetsAreTrue(seed);
        ring.AssertSearchesSucceed(seed, searches: 100);
    }

    [Theory]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void UnderFivePercentLossJoinsStillEndWithTheTrueLeafSets(int seed)
    {
        Ring ring = Ring.Create(seed, s_wan with { Loss = 0.05 });
        for (int i = 0; i < 60; i++)
        {
            ring.Join(bootstrapFrom: i == 0 ? -1 : ring.Random.Next(i));
            ring.Scheduler.RunFor(TimeSpan.FromMilliseconds(500));
        }

        ring.Scheduler.RunFor(5 * s_period);
        ring.AssertLeafSetsAreTrue(seed);
        ring.AssertSearchesSucceed(seed, searches: 100);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(13)]
    [InlineData(23)]
    [InlineData(33)]
    public void KeysJoiningAtOnceEndConsistent(int seed)
    {
        Ring ring = Ring.Create(seed, s_wan);
        for (int i = 0; i < 60; i++)
        {
            ring.Join(bootstrapFrom: i == 0 ? -1 : ring.Random.Next(i));
            ring.Scheduler.RunFor(TimeSpan.FromMilliseconds(300));
        }

        ring.Scheduler.RunFor(2 * s_period);

        // Twenty more, all within the same 50 ms, through random members.
        for (int i = 0; i < 20; i++)
        {
            ring.Join(bootstrapFrom: ring.Random.Next(60));
        }

        ring.Scheduler.RunFor(4 * s_period);

        ring.AssertLeafSetsAreTrue(seed);
        ring.AssertSearchesSucceed(seed, searches: 100);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(14)]
    [InlineData(24)]
    [InlineData(34)]
    public void AfterTenPercentCrashLeafSetsHealAndDeadKeysAreNeverReturned(int seed)
    {
        Ring ring = Ring.Create(seed, s_wan);
        for (int i = 0; i < 100; i++)
        {
            ring.Join(bootstrapFrom: i == 0 ? -1 : ring.Random.Next(i));
            ring.Scheduler.RunFor(TimeSpan.FromMilliseconds(300));
        }

        ring.Scheduler.RunFor(3 * s_period);
        ring.AssertLeafSetsAreTrue(seed);

        var crashed = new List<Ring.Node>();
        while (crashed.Count < 10)
        {
            Ring.Node victim = ring.Nodes[ring.Random.Next(ring.Nodes.Count)];
            if (victim.Alive)
            {
                ring.Network.Crash(victim.Transport);
                victim.Alive = false;
                crashed.Add(victim);
            }
        }

        // Two maintenance periods, plus the retries of the last round's requests.
        ring.Scheduler.RunFor((2 * s_period) + TimeSpan.FromSeconds(5));

        ring.AssertLeafSetsAreTrue(seed);
        ring.AssertSearchesSucceed(seed, searches: 100);
        foreach (Ring.Node dead in crashed)
        {
            Ring.Node from = ring.LiveNodes[ring.Random.Next(ring.LiveNodes.Count)];
            SearchOutcome outcome = ring.Search(from, SearchRequest.Exact(dead.Key));
            Assert.True(outcome.Results.Count == 0, $"seed {seed}: dead key {dead.Key} was returned");
        }
    }

    [Theory]
    [InlineData(7)]
    [InlineData(17)]
    public void HalvesThatFormedTheirOwnRingsMergeAfterThePartitionHeals(int seed)
    {
        Ring ring = Ring.Create(seed, s_wan);
        for (int i = 0; i < 60; i++)
        {
            ring.Join(bootstrapFrom: i == 0 ? -1 : ring.Random.Next(i));
            ring.Scheduler.RunFor(TimeSpan.FromMilliseconds(300));
        }

        ring.Scheduler.RunFor(2 * s_period);
        ring.AssertLeafSetsAreTrue(seed);

        // Each half declares the other dead and closes its own ring.
        List<Ring.Node> half = [.. ring.Nodes.OrderBy(_ => ring.Random.Next()).Take(30)];
        ring.Network.Partition(half.Select(n => n.Transport));
        ring.Scheduler.RunFor(5 * s_period);
        Assert.True(half.All(n => n.Engine.Keys[0].LeafSet.Larger.ToArray().All(m => half.Exists(h => h.Key == m.Key))), $"seed {seed}: a half still lists the other after the partition");

        // Split checks (every tenth round, through a bootstrap node or a routing entry outside the leaf set) find the
        // other ring; the merge spreads through the leaf-set exchange.
        ring.Network.Heal();
        ring.Scheduler.RunFor(30 * s_period);
        Assert.True(ring.Nodes.Sum(n => n.Engine.Counters.SplitsFound) > 0, $"seed {seed}: no split check found the other half");
        ring.AssertLeafSetsAreTrue(seed);
        ring.AssertSearchesSucceed(seed, searches: 100);
    }

    [Fact]
    public void MaintenanceStaysWithinItsBudgetInAStableRing()
    {
        const int Seed = 5;
        Ring ring = Ring.Create(Seed, s_wan);
        for (int i = 0; i < 50; i++)
        {
            ring.Join(bootstrapFrom: i == 0 ? -1 : ring.Random.Next(i));
            ring.Scheduler.RunFor(TimeSpan.FromMilliseconds(300));
        }

        ring.Scheduler.RunFor(5 * s_period);
        long before = ring.Nodes.Sum(n => n.Engine.Counters.MaintenanceSent);
        TimeSpan window = 10 * s_period;
        ring.Scheduler.RunFor(window);
        long sent = ring.Nodes.Sum(n => n.Engine.Counters.MaintenanceSent) - before;

        double perNodePerSecond = sent / (double)ring.Nodes.Count / window.TotalSeconds;
        Assert.True(perNodePerSecond <= 0.5, $"seed {Seed}: {perNodePerSecond:F3} maintenance datagrams per node per second");
        Assert.True(perNodePerSecond > 0, $"seed {Seed}: no maintenance at all");
    }

    /// <summary>A ring whose members join through the protocol.</summary>
    private sealed class Ring
    {
        private Ring(int seed, LinkProfile link)
        {
            Seed = seed;
            Scheduler = new VirtualTimeScheduler();
            Network = new SimulatedNetwork(Scheduler, seed, link);
            Random = new Random(seed);
        }

        public int Seed { get; }

        public VirtualTimeScheduler Scheduler { get; }

        public SimulatedNetwork Network { get; }

        public Random Random { get; }

        public List<Node> Nodes { get; } = [];

        public List<Node> LiveNodes => Nodes.FindAll(n => n.Alive);

        public static Ring Create(int seed, LinkProfile link) => new(seed, link);

        /// <summary>Starts a node with one random key that joins through node <paramref name="bootstrapFrom"/> (−1: the first, alone).</summary>
        public Node Join(int bootstrapFrom)
        {
            int index = Nodes.Count;
            SimulatedTransport transport = Network.CreateTransport();
            var options = new EngineOptions
            {
                Bootstrap = bootstrapFrom < 0 ? [] : [Nodes[bootstrapFrom].Transport.EndPoint],
            };
            var engine = new Overlay.Engine.Engine(options, transport, Scheduler, new Random(Seed * 1000 + index), new SeededRandomNumberGenerator(Seed * 7919 + index));
            Key256 key = Key256.Random(Random);
            var node = new Node(engine, transport, key);
            Nodes.Add(node);
            engine.Start();
            engine.Post(now =>
            {
                engine.AddLocalKey(key, StaticRing.AppDataOf(key, 40));
                engine.Join(now);
            });
            return node;
        }

        public void AssertLeafSetsAreTrue(int seed)
        {
            List<Node> live = LiveNodes;
            live.Sort((a, b) => a.Key.CompareTo(b.Key));
            int side = new EngineOptions().LeafSetSide;
            int wrong = 0;
            string first = "";
            for (int i = 0; i < live.Count; i++)
            {
                LeafSet leafSet = live[i].Engine.Keys[0].LeafSet;
                var expectedLarger = new List<Key256>();
                var expectedSmaller = new List<Key256>();
                for (int d = 1; d <= Math.Min(side, live.Count - 1); d++)
                {
                    expectedLarger.Add(live[(i + d) % live.Count].Key);
                    expectedSmaller.Add(live[(i - d + live.Count) % live.Count].Key);
                }

                List<Key256> larger = [.. leafSet.Larger.ToArray().Select(n => n.Key)];
                List<Key256> smaller = [.. leafSet.Smaller.ToArray().Select(n => n.Key)];
                if (!larger.SequenceEqual(expectedLarger) || !smaller.SequenceEqual(expectedSmaller))
                {
                    if (wrong++ == 0)
                    {
                        List<Key256> missing = [.. expectedLarger.Concat(expectedSmaller).Except(larger.Concat(smaller))];
                        List<Key256> extra = [.. larger.Concat(smaller).Except(expectedLarger.Concat(expectedSmaller))];
                        first = $"{live[i].Key.ToShortString()} (joined {Nodes.IndexOf(live[i])}) misses {string.Join(", ", missing.Select(Describe))} and holds {string.Join(", ", extra.Select(Describe))}";
                        string Describe(Key256 k) => $"{k.ToShortString()} (joined {Nodes.FindIndex(n => n.Key == k)}, alive {Nodes.Find(n => n.Key == k)?.Alive})";
                    }
                }
            }

            Assert.True(wrong == 0, $"seed {seed}: {wrong} of {live.Count} leaf sets differ from the true neighbours; first: {first}");
        }

        public void AssertSearchesSucceed(int seed, int searches)
        {
            List<Node> live = LiveNodes;
            int failed = 0;
            for (int i = 0; i < searches; i++)
            {
                Node from = live[Random.Next(live.Count)];
                Node owner = live[Random.Next(live.Count)];
                SearchOutcome outcome = Search(from, SearchRequest.Exact(owner.Key, allowLocal: true));
                failed += outcome.Results.Count == 1 && outcome.Results[0].Key == owner.Key ? 0 : 1;
            }

            Assert.True(failed == 0, $"seed {seed}: {failed} of {searches} searches failed");
        }

        public SearchOutcome Search(Node from, SearchRequest request)
        {
            SearchOutcome? outcome = null;
            from.Engine.Post(now => from.Engine.StartSearch(request, o => outcome = o, now));
            Assert.True(Scheduler.RunUntil(() => outcome is not null, TimeSpan.FromMinutes(2)), $"seed {Seed}: a search did not complete");
            return outcome!;
        }

        public sealed class Node(Overlay.Engine.Engine engine, SimulatedTransport transport, Key256 key)
        {
            public Overlay.Engine.Engine Engine { get; } = engine;

            public SimulatedTransport Transport { get; } = transport;

            public Key256 Key { get; } = key;

            public bool Alive { get; set; } = true;
        }
    }
}
