using Drt.Overlay.Routing;
using Drt.Overlay.Wire;
using Xunit;

namespace Drt.Overlay.Tests.Routing;

public sealed class NetworkSizeEstimatorTests
{
    [Fact]
    public void A_small_ring_is_counted_exactly()
    {
        var random = new Random(1);
        var set = new LeafSet(Key256.Random(random), 8);
        for (int i = 0; i < 11; i++)
        {
            set.TryAdd(new NodeRef(Key256.Random(random), i));
        }

        Assert.True(set.IsComplete);
        Assert.Equal(12, NetworkSizeEstimator.Estimate(set));
    }

    [Theory]
    [InlineData(2, 1_000)]
    [InlineData(3, 10_000)]
    public void A_large_ring_is_estimated_within_a_factor_of_two_on_average(int seed, int n)
    {
        var random = new Random(seed);
        var keys = Enumerable.Range(0, n).Select(_ => Key256.Random(random)).ToArray();
        var sets = new List<LeafSet>();
        for (int i = 0; i < 20; i++)
        {
            var set = new LeafSet(keys[i], 8);
            foreach (Key256 k in keys)
            {
                set.TryAdd(new NodeRef(k, 0));
            }

            sets.Add(set);
        }

        double estimate = NetworkSizeEstimator.Estimate(sets);
        Assert.InRange(estimate, n / 2.0, n * 2.0);
    }

    [Fact]
    public void Fraction_of_ring()
    {
        Assert.Equal(0.5, NetworkSizeEstimator.FractionOfRing(new Key256(1UL << 63, 0, 0, 0)));
        Assert.Equal(0.0, NetworkSizeEstimator.FractionOfRing(Key256.Zero));
    }
}
