namespace Drt.Overlay.Simulation;

/// <summary>
/// How a simulated link treats datagrams: one-way delay, random variation, loss, duplication and reordering.
/// Immutable; build variants with <c>with</c>.
/// </summary>
/// <remarks>
/// A datagram's one-way delay is <see cref="Latency"/> + <see cref="Spread"/> × (distance between the two
/// endpoints' random positions in a unit square, scaled to 0..1) + a uniform draw in [0, <see cref="Jitter"/>],
/// plus <see cref="ReorderDelay"/> for the fraction <see cref="Reorder"/> of datagrams. Spread gives nodes stable,
/// different distances from each other, which is what proximity neighbour selection needs to have anything to
/// choose; jitter and reordering make consecutive datagrams overtake each other.
/// </remarks>
public sealed record LinkProfile
{
    /// <summary>A perfect 10 ms link: no variation, no loss.</summary>
    public static LinkProfile Default { get; } = new();

    /// <summary>Base one-way delay. Default 10 ms.</summary>
    public TimeSpan Latency { get; init => field = NonNegative(value); } = TimeSpan.FromMilliseconds(10);

    /// <summary>Extra delay at the largest distance between two endpoints' positions. Default zero.</summary>
    public TimeSpan Spread { get; init => field = NonNegative(value); }

    /// <summary>Largest extra random delay per datagram (uniform). Default zero.</summary>
    public TimeSpan Jitter { get; init => field = NonNegative(value); }

    /// <summary>Probability in [0, 1] that a datagram is lost. Default zero.</summary>
    public double Loss { get; init => field = Probability(value); }

    /// <summary>Probability in [0, 1] that a datagram arrives twice (the copy with its own delay). Default zero.</summary>
    public double Duplicate { get; init => field = Probability(value); }

    /// <summary>Probability in [0, 1] that a datagram is held back by <see cref="ReorderDelay"/>. Default zero.</summary>
    public double Reorder { get; init => field = Probability(value); }

    /// <summary>How long a reordered datagram is held back. Default 50 ms.</summary>
    public TimeSpan ReorderDelay { get; init => field = NonNegative(value); } = TimeSpan.FromMilliseconds(50);

    private static TimeSpan NonNegative(TimeSpan value, [System.Runtime.CompilerServices.CallerMemberName] string name = "")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero, name);
        return value;
    }

    private static double Probability(double value, [System.Runtime.CompilerServices.CallerMemberName] string name = "")
    {
        if (!(value >= 0 && value <= 1))
        {
            throw new ArgumentOutOfRangeException(name, value, "A probability must be between 0 and 1.");
        }

        return value;
    }
}
