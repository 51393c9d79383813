using Drt.Overlay.Engine;
using Drt.Overlay.Routing;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;
using Xunit;

namespace Drt.Overlay.Simulation.Tests.Engine;

/// <summary>
/// The engine's iterative search over real bytes in the simulated network, against a brute-force oracle of the ring.
/// Each test prints its seed in every assertion message.
/// </summary>
public sealed class StaticRingSearchTests
{
    private static readonly LinkProfile s_wan = new()
    {
        Latency = TimeSpan.FromMilliseconds(5),
        Spread = TimeSpan.FromMilliseconds(80),
        Jitter = TimeSpan.FromMilliseconds(4),
    };

    [Theory]
    [InlineData(2026)]
    [InlineData(7)]
    public void ExactSearchFindsEveryRegisteredKeyAtItsOwnerWithItsData(int seed)
    {
        StaticRing ring = StaticRing.Build(seed, count: 200, s_wan);
        var random = new Random(seed + 1); // not the ring's own sequence of keys
        int hops = 0;
        const int Searches = 60;

        for (int i = 0; i < Searches; i++)
        {
            StaticRing.Node from = ring.Nodes[random.Next(ring.Nodes.Length)];
            StaticRing.Node owner = ring.Nodes[random.Next(ring.Nodes.Length)];
            if (owner == from)
            {
                continue;
            }

            SearchOutcome outcome = ring.Search(from, SearchRequest.Exact(owner.Key));

            SearchResultData result = Assert.Single(outcome.Results);
            Assert.True(result.Key == owner.Key, $"seed {seed}: searched {owner.Key}, found {result.Key}");
            Assert.True(result.IsExact, $"seed {seed}");
            Assert.Equal(owner.Transport.EndPoint, result.Endpoint);
            Assert.Equal(owner.AppData, result.AppData);
            Assert.InRange(outcome.Path.Count, 0, WireLimits.MaxPath); // 0: the searcher knew the owner and asked it directly
            hops += outcome.Path.Count;
        }

        // log16(200) ≈ 1.9; with α = 3 parallel queries a search touches a handful of nodes, never a crawl.
        Assert.True(hops / (double)Searches < 12, $"seed {seed}: {hops / (double)Searches:F1} nodes contacted per search");
    }

    [Fact]
    public void ExactSearchForAnUnregisteredKeyFindsNothing()
    {
        const int Seed = 31;
        StaticRing ring = StaticRing.Build(Seed, count: 100, s_wan);
        var random = new Random(Seed + 1); // not the ring's own sequence of keys

        for (int i = 0; i < 10; i++)
        {
            Key256 missing = Key256.Random(random);
            SearchOutcome outcome = ring.Search(ring.Nodes[i], SearchRequest.Exact(missing));

            Assert.True(outcome.Results.Count == 0, $"seed {Seed}: found {outcome.Results.Count} results for unregistered {missing}");
            Assert.NotEmpty(outcome.Path);
        }
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    public void NearestSearchReturnsTheRegisteredKeyClosestToTheTarget(int seed)
    {
        StaticRing ring = StaticRing.Build(seed, count: 150, s_wan);
        var random = new Random(seed + 1); // not the ring's own sequence of keys
        var halfWidth = new Key256(1UL << 60, 0, 0, 0); // 1/16 of the ring each side

        for (int i = 0; i < 40; i++)
        {
            StaticRing.Node from = ring.Nodes[random.Next(ring.Nodes.Length)];
            Key256 target = Key256.Random(random);
            Key256 min = target < halfWidth ? Key256.Zero : target - halfWidth;
            Key256 max = Key256.MaxValue - target < halfWidth ? Key256.MaxValue : target + halfWidth;
            var request = new SearchRequest(target, LookupKind.Nearest, min, max, 1, AllowLocal: false);

            SearchOutcome outcome = ring.Search(from, request);

            StaticRing.Node expected = ring.Nearest(target, min, max, excluding: from);
            SearchResultData result = Assert.Single(outcome.Results);
            Assert.True(result.Key == expected.Key, $"seed {seed}: nearest to {target} is {expected.Key}, search found {result.Key}");
            Assert.Equal(expected.Transport.EndPoint, result.Endpoint);
            Assert.False(result.IsExact, $"seed {seed}: {result.Key} reported as an exact match for {target}");
        }
    }

    [Fact]
    public void SearchesSucceedOverALossyNetwork()
    {
        const int Seed = 404;
        StaticRing ring = StaticRing.Build(Seed, count: 150, s_wan with { Loss = 0.1, Duplicate = 0.02, Reorder = 0.05 });
        var random = new Random(Seed + 1); // not the ring's own sequence of keys
        int found = 0;
        const int Searches = 50;

        for (int i = 0; i < Searches; i++)
        {
            StaticRing.Node from = ring.Nodes[random.Next(ring.Nodes.Length)];
            StaticRing.Node owner = ring.Nodes[random.Next(ring.Nodes.Length)];
            SearchOutcome outcome = ring.Search(from, SearchRequest.Exact(owner.Key, allowLocal: true));
            found += outcome.Results.Count == 1 && outcome.Results[0].Key == owner.Key ? 1 : 0;
        }

        // 10% loss each way: retransmission over alternatives recovers; a search fails only when every
        // path to the owner (and the owner's three inquiry attempts) is lost.
        Assert.True(found >= Searches - 1, $"seed {Seed}: {found} of {Searches} searches found their key; lost {ring.Network.Statistics.Lost}");
        Assert.True(ring.Network.Statistics.Lost > 0, $"seed {Seed}");
    }

    [Fact]
    public void SearchesRouteAroundCrashedNodes()
    {
        const int Seed = 99;
        StaticRing ring = StaticRing.Build(Seed, count: 200, s_wan);
        var random = new Random(Seed + 1); // not the ring's own sequence of keys
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
        for (int i = 0; i < 40; i++)
        {
            StaticRing.Node from = alive[random.Next(alive.Length)];
            StaticRing.Node owner = alive[random.Next(alive.Length)];
            if (owner == from)
            {
                continue;
            }

            SearchOutcome outcome = ring.Search(from, SearchRequest.Exact(owner.Key));

            Assert.True(outcome.Results.Count == 1 && outcome.Results[0].Key == owner.Key, $"seed {Seed}: search {i} for {owner.Key} failed");
            foreach (LookupHop hop in outcome.Path)
            {
                Assert.True(hop.Outcome != HopOutcome.Accepted || hop.RttMicros > 0, $"seed {Seed}: an accepted hop without an RTT");
            }
        }

        Assert.True(ring.Network.Statistics.DroppedUnreachable > 0, $"seed {Seed}: no search ever tried a crashed node");
    }

    [Fact]
    public void ARecordWithFiveKilobytesOfDataArrivesInFragmentsOverADisorderlyLink()
    {
        const int Seed = 5120;
        StaticRing ring = StaticRing.Build(Seed, count: 60, s_wan with { Duplicate = 0.05, Reorder = 0.2, Loss = 0.02 }, appDataSize: WireLimits.MaxAppData);
        var random = new Random(Seed + 1);

        for (int i = 0; i < 10; i++)
        {
            StaticRing.Node from = ring.Nodes[random.Next(ring.Nodes.Length)];
            StaticRing.Node owner = ring.Nodes[random.Next(ring.Nodes.Length)];
            SearchOutcome outcome = ring.Search(from, SearchRequest.Exact(owner.Key, allowLocal: true));

            SearchResultData result = Assert.Single(outcome.Results);
            Assert.Equal(WireLimits.MaxAppData, result.AppData.Length);
            Assert.True(owner.AppData.AsSpan().SequenceEqual(result.AppData), $"seed {Seed}: application data of {owner.Key} differs");
        }

        Assert.True(ring.Nodes.Sum(n => n.Engine.Counters.FragmentedSends) > 0, $"seed {Seed}: nothing was fragmented");
    }

    [Fact]
    public void AnIterativeSearchReportsEachHopAndWaitsForTheCallerBeforeTheNext()
    {
        const int Seed = 606;
        // Leaf sets only: the search walks round the ring, eight keys a hop.
        StaticRing ring = StaticRing.Build(Seed, count: 100, s_wan, randomContacts: 0);
        StaticRing.Node from = ring.Sorted[0];
        StaticRing.Node owner = ring.Sorted[50];
        var hops = new List<SearchResultData>();
        SearchOutcome? outcome = null;
        long id = 0;
        Overlay.Engine.Engine engine = from.Engine;
        engine.Post(now => id = engine.StartSearch(
            SearchRequest.Exact(owner.Key) with { Iterative = true },
            o => outcome = o,
            hop => hops.Add(hop),
            now));

        // Each hop is reported once, and nothing more happens until the caller continues.
        for (int step = 0; step < 22 && outcome is null; step++)
        {
            ring.Scheduler.RunUntil(() => hops.Count > step || outcome is not null, TimeSpan.FromMinutes(1));
            if (outcome is not null)
            {
                break;
            }

            long sent = engine.Counters.Sent;
            ring.Scheduler.RunFor(TimeSpan.FromSeconds(5));
            Assert.Equal(sent, engine.Counters.Sent);
            Assert.Equal(step + 1, hops.Count);
            engine.Post(now => Assert.True(engine.ContinueSearch(id, now)));
        }

        Assert.NotNull(outcome);
        Assert.Equal(owner.Key, Assert.Single(outcome.Results).Key);
        Assert.True(hops.Count >= 2, $"seed {Seed}: only {hops.Count} hops to see");
        Assert.All(hops, h => Assert.True(h.IsIntermediate && h.AppData.Length == 0));
        Assert.Equal(outcome.Path.Where(p => p.Outcome.HasFlag(HopOutcome.Accepted)).Select(p => p.Node.Key).Take(hops.Count), hops.Select(h => h.Key));
    }

    [Fact]
    public void ACancelledSearchEndsAtOnceAndSendsNothingMore()
    {
        const int Seed = 607;
        StaticRing ring = StaticRing.Build(Seed, count: 100, s_wan with { Loss = 1.0 });
        Overlay.Engine.Engine engine = ring.Nodes[0].Engine;
        SearchOutcome? outcome = null;
        engine.Post(now =>
        {
            long id = engine.StartSearch(SearchRequest.Exact(ring.Nodes[50].Key), o => outcome = o, null, now);
            Assert.True(engine.CancelSearch(id, now));
            Assert.False(engine.CancelSearch(id, now));
        });
        ring.Scheduler.RunFor(TimeSpan.FromMilliseconds(1));
        long sent = engine.Counters.Sent;
        ring.Scheduler.RunFor(TimeSpan.FromMinutes(1));

        Assert.NotNull(outcome);
        Assert.Empty(outcome.Results);
        Assert.Equal(sent, engine.Counters.Sent);
    }

    [Fact]
    public void TheSameSeedReplaysTheSameSearchesByteForByte()
    {
        static ulong Run()
        {
            StaticRing ring = StaticRing.Build(5150, count: 80, s_wan with { Loss = 0.05 });
            var random = new Random(5151);
            for (int i = 0; i < 15; i++)
            {
                ring.Search(ring.Nodes[random.Next(80)], SearchRequest.Exact(ring.Nodes[random.Next(80)].Key, allowLocal: true));
            }

            return ring.Network.TraceHash;
        }

        Assert.Equal(Run(), Run());
    }
}
