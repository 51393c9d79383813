using Drt.Overlay.Routing;
using Drt.Overlay.Wire;
using Xunit;

namespace Drt.Overlay.Tests.Routing;

public sealed class RoutingTableTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Every_entry_sits_in_the_row_of_its_shared_prefix_and_the_column_of_its_next_digit(int seed)
    {
        var random = new Random(seed);
        Key256 owner = Key256.Random(random);
        var table = new RoutingTable(owner, cellCapacity: 2, maxPerSubnetPerRow: 1000);
        for (int i = 0; i < 5000; i++)
        {
            table.TryAdd(new RoutingEntry(new NodeRef(Key256.Random(random), i), random.Next(1, 100_000), (ulong)i));
        }

        int total = 0;
        for (int row = 0; row < Key256.DigitCount; row++)
        {
            for (int column = 0; column < RoutingTable.Columns; column++)
            {
                ReadOnlySpan<RoutingEntry> cell = table.Cell(row, column);
                Assert.True(cell.Length <= 2);
                for (int i = 0; i < cell.Length; i++)
                {
                    Assert.Equal(row, owner.SharedPrefixLength(cell[i].Node.Key));
                    Assert.Equal(column, cell[i].Node.Key.GetDigit(row));
                    Assert.True(i == 0 || cell[i - 1].RttMicros <= cell[i].RttMicros, $"seed {seed}: cell not sorted by RTT");
                }

                total += cell.Length;
            }
        }

        Assert.Equal(table.Count, total);
        // With 5000 random keys the first rows are full: 15 columns × 2 in rows 0 and 1.
        Assert.True(total >= 60, $"seed {seed}: {total}");
    }

    [Fact]
    public void A_full_cell_keeps_the_nearest_nodes_by_rtt()
    {
        var owner = new Key256(0x0000_0000_0000_0000, 0, 0, 0);
        var table = new RoutingTable(owner, cellCapacity: 2);
        var slow = new RoutingEntry(new NodeRef(new Key256(0x5000_0000_0000_0001, 0, 0, 0), 1), 9000, 1);
        var mid = new RoutingEntry(new NodeRef(new Key256(0x5000_0000_0000_0002, 0, 0, 0), 2), 5000, 2);
        var fast = new RoutingEntry(new NodeRef(new Key256(0x5000_0000_0000_0003, 0, 0, 0), 3), 1000, 3);
        var unmeasured = new RoutingEntry(new NodeRef(new Key256(0x5000_0000_0000_0004, 0, 0, 0), 4), 0, 4);

        Assert.Equal(RoutingTableAddResult.Added, table.TryAdd(slow));
        Assert.Equal(RoutingTableAddResult.Added, table.TryAdd(mid));
        Assert.Equal(RoutingTableAddResult.Full, table.TryAdd(unmeasured));
        Assert.Equal(RoutingTableAddResult.Replaced, table.TryAdd(fast));
        Assert.Equal(RoutingTableAddResult.Present, table.TryAdd(fast with { RttMicros = 800 }));
        Assert.Equal(RoutingTableAddResult.Self, table.TryAdd(new RoutingEntry(new NodeRef(owner, 0), 1, 9)));

        ReadOnlySpan<RoutingEntry> hops = table.NextHops(new Key256(0x5FFF_0000_0000_0000, 0, 0, 0));
        Assert.Equal(2, hops.Length);
        Assert.Equal(3, hops[0].Node.PeerId);
        Assert.Equal(800, hops[0].RttMicros);
        Assert.Equal(2, hops[1].Node.PeerId);
        Assert.Equal(2, table.Count);
    }

    [Fact]
    public void A_row_takes_a_limited_number_of_entries_from_one_subnet()
    {
        var owner = Key256.Zero;
        var table = new RoutingTable(owner, cellCapacity: 2, maxPerSubnetPerRow: 3);
        for (ulong d = 1; d <= 5; d++)
        {
            RoutingTableAddResult result = table.TryAdd(new RoutingEntry(new NodeRef(new Key256(d << 60, 0, 0, 0), (int)d), 100, Subnet: 42));
            Assert.Equal(d <= 3 ? RoutingTableAddResult.Added : RoutingTableAddResult.SubnetLimit, result);
        }

        // Another subnet is still welcome, and another row counts on its own.
        Assert.Equal(RoutingTableAddResult.Added, table.TryAdd(new RoutingEntry(new NodeRef(new Key256(6UL << 60, 0, 0, 0), 6), 100, 43)));
        Assert.Equal(RoutingTableAddResult.Added, table.TryAdd(new RoutingEntry(new NodeRef(new Key256(1UL << 56, 0, 0, 0), 7), 100, 42)));
    }

    [Fact]
    public void Remove_frees_the_place()
    {
        var table = new RoutingTable(Key256.Zero, cellCapacity: 1);
        var a = new RoutingEntry(new NodeRef(new Key256(1UL << 60, 0, 0, 0), 1), 100, 1);
        var b = new RoutingEntry(new NodeRef(new Key256((1UL << 60) + 1, 0, 0, 0), 2), 200, 2);
        table.TryAdd(a);
        Assert.Equal(RoutingTableAddResult.Full, table.TryAdd(b));
        Assert.True(table.Remove(a.Node.Key));
        Assert.False(table.Remove(a.Node.Key));
        Assert.Equal(RoutingTableAddResult.Added, table.TryAdd(b));
        Assert.Equal(1, table.Count);
    }

    [Theory]
    [InlineData(21)]
    [InlineData(22)]
    public void FindCloser_returns_the_closest_known_key_that_beats_the_owner(int seed)
    {
        var random = new Random(seed);
        Key256 owner = Key256.Random(random);
        var table = new RoutingTable(owner, cellCapacity: 3, maxPerSubnetPerRow: 1000);
        var keys = new List<Key256>();
        for (int i = 0; i < 300; i++)
        {
            Key256 k = Key256.Random(random);
            if (table.TryAdd(new RoutingEntry(new NodeRef(k, i), 100, (ulong)i)) is RoutingTableAddResult.Added or RoutingTableAddResult.Replaced)
            {
                keys.Add(k);
            }
        }

        var stored = new RoutingEntry[table.Count];
        Assert.Equal(table.Count, table.CopyTo(stored));
        var storedKeys = stored.Select(e => e.Node.Key).ToList();
        for (int i = 0; i < 500; i++)
        {
            Key256 target = Key256.Random(random);
            Key256 best = storedKeys.Append(owner).Aggregate((x, y) => Key256.CompareCloseness(target, x, y) <= 0 ? x : y);
            bool found = table.FindCloser(target, out RoutingEntry closer);
            Assert.Equal(best != owner, found);
            if (found)
            {
                Assert.Equal(best, closer.Node.Key);
            }
        }
    }
}
