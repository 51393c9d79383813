using Drt.Overlay.Engine;
using Drt.Overlay.Routing;
using Drt.Overlay.Wire;
using Xunit;

namespace Drt.Overlay.Simulation.Tests.Engine;

/// <summary>
/// Routing-table refresh on a ring built by the join protocol: the cells that can hold keys fill up, the entries kept
/// are the nearer ones by measured RTT (proximity neighbour selection), and the network-size estimate is close.
/// </summary>
public sealed class RoutingTableRefreshTests
{
    [Fact]
    public void RefreshFillsTheCellsThatCanHoldKeysWithNearbyKeysAndTheSizeEstimateIsClose()
    {
        const int Seed = 41;
        const int Nodes = 400;
        var ring = new JoinedRing(Seed, RingExperiment.Wan);
        ring.JoinOneByOne(Nodes, TimeSpan.FromMilliseconds(200));
        ring.Scheduler.RunFor(3 * ring.MaintenancePeriod);
        double filledAfterJoin = FilledFraction(ring);

        ring.Scheduler.RunFor(80 * ring.MaintenancePeriod); // a refresh every fourth round: twenty per key
        double filled = FilledFraction(ring);

        Assert.True(filled >= 0.97 && filled > filledAfterJoin, $"seed {Seed}: {filled:P1} of the cells that can hold keys hold one (after the joins: {filledAfterJoin:P1})");

        // Proximity: an entry of a full first-row cell is nearer than a key of that cell picked at random.
        (double kept, double random) = FirstRowDistances(ring);
        Assert.True(kept < 0.9 * random, $"seed {Seed}: entries average {kept:F3} away, the cells' keys {random:F3}");

        foreach (JoinedRing.Node node in ring.Nodes)
        {
            double estimate = node.Engine.EstimatedNetworkSize;
            Assert.True(estimate > Nodes / 3.0 && estimate < Nodes * 3.0, $"seed {Seed}: {node.Key.ToShortString()} estimates {estimate:F0} keys");
        }
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(15, 1)]
    [InlineData(16, 1)]
    [InlineData(1000, 2)]
    [InlineData(100_000, 4)]
    public void TheRowsWorthFillingAreThoseExpectingAKeyInEveryCell(double size, int rows)
    {
        Assert.Equal(rows, Overlay.Engine.Engine.RowsWorthFilling(size));
    }

    /// <summary>Of the table cells (in the rows worth filling) that some live key could occupy, the fraction holding one.</summary>
    private static double FilledFraction(JoinedRing ring)
    {
        Key256[] keys = [.. ring.Nodes.Select(n => n.Key)];
        int possible = 0;
        int filled = 0;
        foreach (JoinedRing.Node node in ring.Nodes)
        {
            LocalKey local = node.Engine.Keys[0];
            int rows = Overlay.Engine.Engine.RowsWorthFilling(ring.Nodes.Count);
            var occupied = new HashSet<int>();
            foreach (Key256 other in keys)
            {
                int row = local.Key.SharedPrefixLength(other);
                if (row < rows && !local.LeafSet.Contains(other))
                {
                    occupied.Add((row * RoutingTable.Columns) + other.GetDigit(row));
                }
            }

            possible += occupied.Count;
            filled += occupied.Count(cell => local.Routes.Cell(cell / RoutingTable.Columns, cell % RoutingTable.Columns).Length > 0);
        }

        return filled / (double)possible;
    }

    /// <summary>Mean distance (the simulator's coordinates) to the entries of full first-row cells, and to all keys of those cells.</summary>
    private static (double Kept, double Random) FirstRowDistances(JoinedRing ring)
    {
        Dictionary<Key256, JoinedRing.Node> byKey = ring.Nodes.ToDictionary(n => n.Key);
        double kept = 0;
        double random = 0;
        int cells = 0;
        foreach (JoinedRing.Node node in ring.Nodes)
        {
            LocalKey local = node.Engine.Keys[0];
            for (int column = 0; column < RoutingTable.Columns; column++)
            {
                ReadOnlySpan<RoutingEntry> cell = local.Routes.Cell(0, column);
                if (cell.Length < local.Routes.CellCapacity)
                {
                    continue;
                }

                double sum = 0;
                foreach (RoutingEntry e in cell)
                {
                    sum += Distance(node, byKey[e.Node.Key]);
                }

                kept += sum / cell.Length;
                random += ring.Nodes.Where(n => n.Key.GetDigit(0) == column).Average(n => Distance(node, n));
                cells++;
            }
        }

        return (kept / cells, random / cells);
    }

    private static double Distance(JoinedRing.Node a, JoinedRing.Node b) =>
        Math.Sqrt(Math.Pow(a.Transport.X - b.Transport.X, 2) + Math.Pow(a.Transport.Y - b.Transport.Y, 2));
}
