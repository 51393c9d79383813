using Drt.Overlay.Routing;
using Drt.Overlay.Wire;
using Xunit;

namespace Drt.Overlay.Tests.Routing;

public sealed class LeafSetTests
{
    // Oracle: the nearest `capacity` keys clockwise and counter-clockwise of the owner, by brute force.
    private static List<Key256> NearestClockwise(Key256 owner, IEnumerable<Key256> keys, int capacity, bool clockwise) =>
        keys.Where(k => k != owner)
            .OrderBy(k => clockwise ? Key256.ClockwiseDistance(owner, k) : Key256.ClockwiseDistance(k, owner))
            .Take(capacity)
            .ToList();

    [Theory]
    [InlineData(1, 5, 3)]
    [InlineData(2, 8, 12)]
    [InlineData(3, 8, 17)]
    [InlineData(4, 8, 200)]
    [InlineData(5, 16, 1000)]
    public void Sides_hold_the_true_nearest_keys_in_order_whatever_the_insertion_order(int seed, int capacity, int others)
    {
        var random = new Random(seed);
        Key256 owner = Key256.Random(random);
        var keys = Enumerable.Range(0, others).Select(_ => Key256.Random(random)).ToList();
        var set = new LeafSet(owner, capacity);
        for (int i = 0; i < keys.Count; i++)
        {
            set.TryAdd(new NodeRef(keys[i], i));
        }

        // Re-adding and adding in another order changes nothing.
        foreach (Key256 k in keys.OrderBy(_ => random.Next()))
        {
            set.TryAdd(new NodeRef(k, 0));
        }

        Assert.Equal(NearestClockwise(owner, keys, capacity, clockwise: true), ToKeys(set.Larger));
        Assert.Equal(NearestClockwise(owner, keys, capacity, clockwise: false), ToKeys(set.Smaller));
        Assert.Equal(others < 2 * capacity, set.IsComplete);
    }

    [Fact]
    public void A_small_ring_puts_keys_on_both_sides_and_covers_every_target()
    {
        var owner = new Key256(0x8000_0000_0000_0000, 0, 0, 0);
        var set = new LeafSet(owner, 5);
        var a = new Key256(0x1000_0000_0000_0000, 0, 0, 0);
        var b = new Key256(0xF000_0000_0000_0000, 0, 0, 0);
        Assert.Equal(LeafSetAddResult.Added, set.TryAdd(new NodeRef(a, 1)));
        Assert.Equal(LeafSetAddResult.Added, set.TryAdd(new NodeRef(b, 2)));
        Assert.Equal(LeafSetAddResult.Present, set.TryAdd(new NodeRef(b, 3)));
        Assert.Equal(LeafSetAddResult.Self, set.TryAdd(new NodeRef(owner, 0)));

        Assert.Equal([b, a], ToKeys(set.Larger));
        Assert.Equal([a, b], ToKeys(set.Smaller));
        Assert.True(set.Covers(Key256.Zero));
        Assert.Equal(3, set.Larger[0].PeerId);
    }

    [Fact]
    public void Remove_takes_the_key_off_both_sides()
    {
        var random = new Random(7);
        Key256 owner = Key256.Random(random);
        var set = new LeafSet(owner, 5);
        Key256 k = Key256.Random(random);
        set.TryAdd(new NodeRef(k, 1));
        Assert.True(set.Contains(k));
        Assert.True(set.Remove(k));
        Assert.False(set.Contains(k));
        Assert.False(set.Remove(k));
        Assert.True(set.IsEmpty);
    }

    [Fact]
    public void A_far_key_is_refused_when_both_sides_are_full_of_nearer_ones()
    {
        var owner = new Key256(0, 0, 0, 1000);
        var set = new LeafSet(owner, 5);
        for (ulong i = 1; i <= 5; i++)
        {
            set.TryAdd(new NodeRef(new Key256(0, 0, 0, 1000 + i), 1));
            set.TryAdd(new NodeRef(new Key256(0, 0, 0, 1000 - i), 1));
        }

        Assert.False(set.IsComplete);
        Assert.Equal(LeafSetAddResult.TooFar, set.TryAdd(new NodeRef(new Key256(1, 0, 0, 0), 1)));
        Assert.True(set.Covers(new Key256(0, 0, 0, 996)));
        Assert.False(set.Covers(new Key256(0, 0, 0, 994)));
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public void ClosestTo_agrees_with_a_brute_force_search_for_covered_targets(int seed)
    {
        var random = new Random(seed);
        Key256 owner = Key256.Random(random);
        var keys = Enumerable.Range(0, 300).Select(_ => Key256.Random(random)).ToList();
        var set = new LeafSet(owner, 8);
        foreach (Key256 k in keys)
        {
            set.TryAdd(new NodeRef(k, 1));
        }

        var all = keys.Append(owner).ToList();
        int checkedTargets = 0;
        for (int i = 0; i < 2000; i++)
        {
            // Targets within 1/64 of the ring around the owner, so that many are covered.
            Key256 offset = Key256.Random(random).Half().Half().Half().Half().Half().Half();
            Key256 target = random.Next(2) == 0 ? owner + offset : owner - offset;
            if (!set.Covers(target))
            {
                continue;
            }

            checkedTargets++;
            Key256 expected = all.Aggregate((x, y) => Key256.CompareCloseness(target, x, y) <= 0 ? x : y);
            NodeRef closest = set.ClosestTo(target, ownerPeerId: -1, out bool isOwner);
            Assert.True(expected == closest.Key, $"seed {seed}, target {target}");
            Assert.Equal(expected == owner, isOwner);
        }

        Assert.True(checkedTargets > 100, $"seed {seed}: only {checkedTargets} covered targets");
    }

    [Fact]
    public void Capacity_outside_drt_limits_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LeafSet(Key256.Zero, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LeafSet(Key256.Zero, 17));
    }

    [Theory]
    [InlineData(6, 5, 4)]
    [InlineData(7, 8, 300)]
    public void Changed_reports_exactly_the_difference_in_membership(int seed, int capacity, int others)
    {
        var random = new Random(seed);
        Key256 owner = Key256.Random(random);
        var set = new LeafSet(owner, capacity);
        var members = new HashSet<Key256>();
        set.Changed = (node, added) => Assert.True(added ? members.Add(node.Key) : members.Remove(node.Key), $"seed {seed}: {(added ? "added" : "removed")} {node.Key} twice");
        var keys = Enumerable.Range(0, others).Select(_ => Key256.Random(random)).ToList();

        // Adds (with evictions of farther keys), re-adds and removals, in a random order.
        for (int step = 0; step < 3 * others; step++)
        {
            Key256 key = keys[random.Next(keys.Count)];
            if (random.Next(3) == 0)
            {
                set.Remove(key);
            }
            else
            {
                set.TryAdd(new NodeRef(key, 0));
            }

            Assert.Equal(ToKeys(set.Larger).Concat(ToKeys(set.Smaller)).ToHashSet(), members);
        }
    }

    private static List<Key256> ToKeys(ReadOnlySpan<NodeRef> nodes)
    {
        var list = new List<Key256>(nodes.Length);
        foreach (NodeRef n in nodes)
        {
            list.Add(n.Key);
        }

        return list;
    }
}
