using Drt.Overlay.Routing;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;
using Xunit;

namespace Drt.Overlay.Tests.Routing;

/// <summary>
/// The lookup against a static ring whose routing tables and leaf sets are built from global knowledge:
/// a node's answer is what the engine will answer (the closest leaf-set keys when its leaf set covers the
/// target, else its routing-table next hops). Results are checked against a brute-force oracle.
/// </summary>
public sealed class IterativeLookupTests
{
    private sealed class Ring
    {
        public readonly List<Key256> Keys;
        public readonly Dictionary<Key256, (RoutingTable Table, LeafSet Leaves)> Nodes = [];

        public Ring(int n, Random random)
        {
            Keys = Enumerable.Range(0, n).Select(_ => Key256.Random(random)).Distinct().ToList();
            for (int i = 0; i < Keys.Count; i++)
            {
                var table = new RoutingTable(Keys[i], cellCapacity: 2, maxPerSubnetPerRow: 1000);
                var leaves = new LeafSet(Keys[i], 8);
                for (int j = 0; j < Keys.Count; j++)
                {
                    if (i != j)
                    {
                        var node = new NodeRef(Keys[j], j);
                        table.TryAdd(new RoutingEntry(node, 1 + random.Next(100_000), (ulong)j));
                        leaves.TryAdd(node);
                    }
                }

                Nodes[Keys[i]] = (table, leaves);
            }
        }

        // A node whose leaf set covers the target answers with its closest keys in [min, max] (as many as
        // the searcher wants, plus slack: one of them may be the searcher's own key, which the searcher
        // cannot use) and its closest keys overall; otherwise with its routing-table next hops.
        public NodeRef[] Answer(Key256 node, Key256 target, int want, Key256 min, Key256 max)
        {
            (RoutingTable table, LeafSet leaves) = Nodes[node];
            var answer = new List<NodeRef>();
            if (leaves.Covers(target))
            {
                var members = new List<NodeRef>();
                members.AddRange(leaves.Larger.ToArray());
                members.AddRange(leaves.Smaller.ToArray());
                members.Add(new NodeRef(node, Keys.IndexOf(node)));
                var byCloseness = members.Distinct()
                    .OrderBy(m => m.Key, Comparer<Key256>.Create((a, b) => Key256.CompareCloseness(target, a, b)))
                    .ToList();
                answer.AddRange(byCloseness.Where(m => m.Key >= min && m.Key <= max).Take(want + 2));
                answer.AddRange(byCloseness.Take(4).Except(answer));
            }
            else
            {
                foreach (RoutingEntry e in table.NextHops(target))
                {
                    answer.Add(e.Node);
                }

                if (answer.Count == 0 && table.FindCloser(target, out RoutingEntry closer))
                {
                    answer.Add(closer.Node);
                }
            }

            return [.. answer];
        }
    }

    private static (IterativeLookup Lookup, int Queries) Run(Ring ring, int searcher, IterativeLookup lookup, Random random, double loss = 0)
    {
        foreach (NodeRef seed in ring.Answer(ring.Keys[searcher], lookup.Target, lookup.Width, lookup.Min, lookup.Max))
        {
            lookup.AddSeed(seed);
        }

        int queries = 0;
        var inFlight = new List<NodeRef>();
        for (int step = 0; step < 10_000 && !lookup.IsFinished; step++)
        {
            while (lookup.TryNextQuery(out NodeRef next))
            {
                inFlight.Add(next);
                queries++;
            }

            if (inFlight.Count == 0)
            {
                break;
            }

            // Answers come back in a random order; some are lost for good.
            int pick = random.Next(inFlight.Count);
            NodeRef hop = inFlight[pick];
            inFlight.RemoveAt(pick);
            if (random.NextDouble() < loss)
            {
                lookup.OnUnreachable(hop);
            }
            else
            {
                lookup.OnReply(hop, ring.Answer(hop.Key, lookup.Target, lookup.Width, lookup.Min, lookup.Max), 1000);
            }
        }

        return (lookup, queries);
    }

    private static Key256 Oracle(IEnumerable<Key256> keys, Key256 target) =>
        keys.Aggregate((a, b) => Key256.CompareCloseness(target, a, b) <= 0 ? a : b);

    [Theory]
    [InlineData(1, 300)]
    [InlineData(2, 1000)]
    public void Exact_searches_find_every_registered_key_in_about_log16_n_hops(int seed, int n)
    {
        var random = new Random(seed);
        var ring = new Ring(n, random);
        var hops = new List<int>();
        var found = new NodeRef[1];
        for (int s = 0; s < 300; s++)
        {
            int searcher = random.Next(ring.Keys.Count);
            Key256 target = ring.Keys[random.Next(ring.Keys.Count)];
            var lookup = new IterativeLookup(target, LookupKind.Exact, target, target, 1, alpha: 3, selfPeerId: searcher, allowLocal: false);
            Run(ring, searcher, lookup, random);
            int count = lookup.GetResults(found, out int depth);
            if (target == ring.Keys[searcher])
            {
                Assert.True(count == 0, $"seed {seed}: a remote-only search returned the searcher's own key");
                continue;
            }

            Assert.True(count == 1 && found[0].Key == target, $"seed {seed}: search {s} for {target} failed");
            hops.Add(depth + 1);
            Assert.True(lookup.UsefulHops <= IterativeLookup.DefaultMaxUsefulHops);
        }

        double mean = hops.Average();
        Assert.True(mean <= Math.Log(n, 16) + 1, $"seed {seed}: mean hops {mean:F2} at n = {n}");
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public void Nearest_searches_return_the_true_nearest_keys_in_range_in_order(int seed)
    {
        var random = new Random(seed);
        var ring = new Ring(500, random);
        var results = new NodeRef[5];
        for (int s = 0; s < 200; s++)
        {
            int searcher = random.Next(ring.Keys.Count);
            Key256 target = Key256.Random(random);
            bool ranged = s % 2 == 0;
            Key256 min = ranged ? target - Key256.Random(random).Half().Half().Half().Half().Half() : Key256.Zero;
            Key256 max = ranged ? target + Key256.Random(random).Half().Half().Half().Half().Half() : Key256.MaxValue;
            if (min > target || max < target)
            {
                continue; // the random range wrapped past 0: not a valid numeric range
            }

            int want = 1 + (s % 5);
            var lookup = new IterativeLookup(target, LookupKind.Nearest, min, max, want, alpha: 3, selfPeerId: searcher, allowLocal: false);
            Run(ring, searcher, lookup, random);
            var expected = ring.Keys.Where((k, i) => i != searcher && k >= min && k <= max)
                .OrderBy(k => k, Comparer<Key256>.Create((a, b) => Key256.CompareCloseness(target, a, b)))
                .Take(want).ToList();
            int count = lookup.GetResults(results, out _);
            Assert.True(
                expected.SequenceEqual(results.Take(count).Select(r => r.Key)),
                $"seed {seed}: search {s} (want {want}) differs from the oracle: expected {string.Join(",", expected.Select(k => k.ToShortString()))}, got {string.Join(",", results.Take(count).Select(r => r.Key.ToShortString()))}, target {target.ToShortString()}");
        }
    }

    [Fact]
    public void A_search_for_a_missing_key_ends_with_no_result()
    {
        var random = new Random(5);
        var ring = new Ring(400, random);
        var results = new NodeRef[1];
        for (int s = 0; s < 50; s++)
        {
            Key256 target = Key256.Random(random);
            var lookup = new IterativeLookup(target, LookupKind.Exact, target, target, 1, 3, selfPeerId: 0, allowLocal: false);
            Run(ring, 0, lookup, random);
            Assert.True(lookup.IsFinished);
            Assert.Equal(0, lookup.GetResults(results, out _));
            // It still walked to the target's neighbourhood: the closest key was asked.
            Key256 closest = Oracle(ring.Keys.Skip(1), target);
            Assert.Contains(lookup.Path, h => h.Node.Key == closest && (h.Outcome & HopOutcome.Accepted) != 0);
        }
    }

    [Fact]
    public void Lost_answers_are_routed_around_by_backtracking()
    {
        var random = new Random(6);
        var ring = new Ring(600, random);
        var found = new NodeRef[1];
        int ok = 0;
        const int Searches = 300;
        for (int s = 0; s < Searches; s++)
        {
            int searcher = random.Next(ring.Keys.Count);
            Key256 target = ring.Keys[random.Next(ring.Keys.Count)];
            if (target == ring.Keys[searcher])
            {
                ok++;
                continue;
            }

            var lookup = new IterativeLookup(target, LookupKind.Exact, target, target, 1, 3, searcher, false);
            Run(ring, searcher, lookup, random, loss: 0.2);
            if (lookup.GetResults(found, out _) == 1)
            {
                Assert.Equal(target, found[0].Key);
                ok++;
            }

            // Every hop has an outcome, except queries still in flight when the result was found.
            Assert.True(lookup.Path.Count(h => h.Outcome == HopOutcome.None) <= lookup.Alpha);
        }

        // Losing an answer for good is harsher than the engine, which retries over alternatives first.
        Assert.True(ok >= Searches * 0.97, $"{ok} of {Searches} found with 20% of answers lost");
    }

    [Fact]
    public void A_leading_result_is_one_the_answer_would_lose_and_stops_leading_once_it_fails()
    {
        Key256 target = Key256.Parse(new string('8', 64));
        var near = new NodeRef(target + Key256.One, 1);
        var second = new NodeRef(target + new Key256(0, 0, 0, 5), 2);
        var far = new NodeRef(target + new Key256(0, 0, 1, 0), 3);
        var lookup = new IterativeLookup(target, LookupKind.Nearest, Key256.Zero, Key256.MaxValue, 2, 3, 0, false);
        lookup.AddSeed(far);
        lookup.AddSeed(second);
        lookup.AddSeed(near);

        Assert.True(lookup.IsLeadingResult(near));
        Assert.True(lookup.IsLeadingResult(second));
        Assert.False(lookup.IsLeadingResult(far));

        // Asked as a hop (the three at once, α = 3), the nearest never answers.
        for (int i = 0; i < 3; i++)
        {
            Assert.True(lookup.TryNextQuery(out _));
        }

        lookup.OnUnreachable(near);
        Assert.False(lookup.IsLeadingResult(near));
        Assert.True(lookup.IsLeadingResult(far));
    }

    [Fact]
    public void Any_in_range_stops_at_the_first_key_in_range()
    {
        var random = new Random(8);
        var ring = new Ring(300, random);
        var found = new NodeRef[1];
        Key256 target = Key256.Random(random);
        var lookup = new IterativeLookup(target, LookupKind.AnyInRange, Key256.Zero, Key256.MaxValue, 1, 3, 0, false);
        foreach (NodeRef seed in ring.Answer(ring.Keys[0], target, 3, Key256.Zero, Key256.MaxValue))
        {
            lookup.AddSeed(seed);
        }

        Assert.True(lookup.IsFinished);
        Assert.Equal(1, lookup.GetResults(found, out _));
        Assert.Empty(lookup.Path);
    }

    [Fact]
    public void Suspicious_answers_and_the_hop_cap_end_the_search()
    {
        Key256 target = new(0, 0, 0, 0);
        var lookup = new IterativeLookup(target, LookupKind.Exact, target, target, 1, 1, -1, false) { MaxSuspicious = 2 };
        for (ulong i = 1; i <= 5; i++)
        {
            lookup.AddSeed(new NodeRef(new Key256(0, 0, 0, i), (int)i));
        }

        Assert.True(lookup.TryNextQuery(out NodeRef first));
        Assert.False(lookup.TryNextQuery(out _)); // alpha = 1
        lookup.OnReply(first, [], 10, HopOutcome.BadValidateId);
        Assert.True(lookup.TryNextQuery(out NodeRef second));
        lookup.OnReply(second, [], 10, HopOutcome.Suspect);
        Assert.True(lookup.Exhausted);
        Assert.True(lookup.IsFinished);
        Assert.False(lookup.TryNextQuery(out _));
        Assert.All(lookup.Path, h => Assert.True((h.Outcome & HopOutcome.Rejected) != 0));

        // Each answer refers a closer node, so only the cap can end this search.
        var capped = new IterativeLookup(target, LookupKind.Exact, target, target, 1, 1, -1, false) { MaxUsefulHops = 3 };
        capped.AddSeed(new NodeRef(new Key256(0, 0, 0, 100), 100));
        int answered = 0;
        while (capped.TryNextQuery(out NodeRef hop))
        {
            capped.OnReply(hop, [new NodeRef(hop.Key - Key256.One, hop.PeerId - 1)], 10);
            answered++;
        }

        Assert.Equal(3, answered);
    }

    [Fact]
    public void Referrals_to_visited_nodes_are_marked_as_loops_and_late_answers_ignored()
    {
        Key256 target = new(0, 0, 0, 100);
        var a = new NodeRef(new Key256(0, 0, 0, 150), 1);
        var b = new NodeRef(new Key256(0, 0, 0, 120), 2);
        var lookup = new IterativeLookup(target, LookupKind.Exact, target, target, 1, 1, -1, false);
        lookup.AddSeed(a);
        Assert.True(lookup.TryNextQuery(out _));
        lookup.OnReply(a, [b], 10);
        Assert.True(lookup.TryNextQuery(out NodeRef next));
        Assert.Equal(b, next);
        lookup.OnReply(b, [a], 10);
        lookup.OnReply(b, [a], 10); // duplicate: ignored
        Assert.Equal(2, lookup.UsefulHops);
        Assert.True((lookup.Path[1].Outcome & HopOutcome.Loop) != 0);
        Assert.Equal(1, lookup.Path[1].Depth);
        Assert.True(lookup.IsFinished);
    }

    [Fact]
    public void Hops_count_the_referrals_that_led_to_a_node_even_when_it_was_never_queried()
    {
        Key256 target = new(0, 0, 0, 100);
        var seed = new NodeRef(new Key256(0, 0, 0, 150), 1);
        var referred = new NodeRef(new Key256(0, 0, 0, 120), 2);
        var owner = new NodeRef(target, 3);
        var lookup = new IterativeLookup(target, LookupKind.Exact, target, target, 1, 1, -1, false);
        lookup.AddSeed(seed);
        Assert.True(lookup.TryNextQuery(out _));
        lookup.OnReply(seed, [referred], 10);
        Assert.True(lookup.TryNextQuery(out _));
        lookup.OnReply(referred, [owner], 10);

        // The owner is found without being queried (the engine then asks it for its record): three hops away.
        Assert.True(lookup.IsFinished);
        Assert.Equal((1, 2, 3), (lookup.HopsTo(seed.Key), lookup.HopsTo(referred.Key), lookup.HopsTo(owner.Key)));
        Assert.Equal(1, lookup.HopsTo(new Key256(0, 0, 0, 7))); // never heard of: as if known
    }

    [Fact]
    public void A_target_outside_the_range_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new IterativeLookup(new Key256(0, 0, 0, 5), LookupKind.Nearest, new Key256(0, 0, 0, 6), new Key256(0, 0, 0, 9), 1, 3, -1, false));
    }
}
