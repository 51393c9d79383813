using Drt.Overlay.Wire;

namespace Drt.Overlay.Routing;

/// <summary>
/// Estimates how many keys the ring holds from the density of a leaf set (MC-DRT §3.2.6.2.1): the
/// 2·l neighbours of a key span an arc of the ring, and keys are uniform, so N ≈ 2·l / (arc / 2^256).
/// Split detection and maintenance periods scale with it.
/// </summary>
internal static class NetworkSizeEstimator
{
    private const double TwoTo64 = 18446744073709551616.0;

    /// <summary>The estimated number of registered keys in the ring, the owner's included.</summary>
    public static double Estimate(LeafSet leafSet)
    {
        ArgumentNullException.ThrowIfNull(leafSet);
        if (leafSet.IsComplete)
        {
            // A side with room means we know every key: count them (a key may sit on both sides).
            int distinct = leafSet.Larger.Length;
            foreach (NodeRef n in leafSet.Smaller)
            {
                if (!Contains(leafSet.Larger, n.Key))
                {
                    distinct++;
                }
            }

            return distinct + 1;
        }

        Key256 arc = Key256.ClockwiseDistance(leafSet.Smaller[^1].Key, leafSet.Larger[^1].Key);
        double fraction = FractionOfRing(arc);
        int gaps = leafSet.Larger.Length + leafSet.Smaller.Length;
        return fraction > 0 ? gaps / fraction : double.PositiveInfinity;
    }

    /// <summary>The averaged estimate over several local keys' leaf sets (DRT averages per key).</summary>
    public static double Estimate(IReadOnlyList<LeafSet> leafSets)
    {
        ArgumentNullException.ThrowIfNull(leafSets);
        double sum = 0;
        int counted = 0;
        foreach (LeafSet leafSet in leafSets)
        {
            double e = Estimate(leafSet);
            if (!double.IsInfinity(e))
            {
                sum += e;
                counted++;
            }
        }

        return counted == 0 ? 1 : sum / counted;
    }

    /// <summary><paramref name="arc"/> / 2^256 as a double (the top 128 bits are plenty).</summary>
    public static double FractionOfRing(Key256 arc) => (arc.Limb0 + (arc.Limb1 / TwoTo64)) / TwoTo64;

    private static bool Contains(ReadOnlySpan<NodeRef> side, Key256 key)
    {
        foreach (NodeRef n in side)
        {
            if (n.Key == key)
            {
                return true;
            }
        }

        return false;
    }
}
