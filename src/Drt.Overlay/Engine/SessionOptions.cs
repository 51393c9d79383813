namespace Drt.Overlay.Engine;

/// <summary>
/// Limits of the per-peer datagram sessions (Membership and Confidential modes; ignored otherwise). See
/// docs/security.md, "Sessions in the engine".
/// </summary>
internal sealed record SessionOptions
{
    /// <summary>Most sessions at once, one per peer; a new one evicts the least recently used (default 1,024).</summary>
    public int MaxSessions { get; init; } = 1024;

    /// <summary>Most handshakes this instance has started and not finished (default 32).</summary>
    public int MaxHandshakes { get; init; } = 32;

    /// <summary>Most datagrams held, over all peers, while their handshakes are in flight (default 32).</summary>
    public int MaxHeld { get; init; } = 32;

    /// <summary>
    /// Hellos answered in a burst: each costs an X25519 agreement and two Ed25519 verifies, about 200 µs here (token
    /// bucket capacity, default 64).
    /// </summary>
    public int HandshakeBurst { get; init; } = 64;

    /// <summary>Hellos answered per second in the long run (token bucket refill, default 32/s: under 1% of a core).</summary>
    public int HandshakesPerSecond { get; init; } = 32;

    /// <summary>Transmissions of a hello before the handshake fails and its held datagrams are dropped (default 3).</summary>
    public int HandshakeAttempts { get; init; } = 3;

    /// <summary>How long the first hello waits for its reply; doubled per retransmission (default 1 s).</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Datagrams sealed under one key epoch before the send key rotates (default 2^20).</summary>
    public long RekeyAfterDatagrams { get; init; } = 1L << 20;

    /// <summary>Time under one send key epoch before it rotates (default 10 minutes).</summary>
    public TimeSpan RekeyAfter { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Throws when a limit is out of range, naming it.</summary>
    public void Validate()
    {
        if (MaxSessions is < 1 or > 1_000_000 || MaxHandshakes < 1 || MaxHeld < 0 || HandshakeBurst < 1 || HandshakesPerSecond < 1
            || HandshakeAttempts is < 1 or > 8 || HandshakeTimeout <= TimeSpan.Zero || RekeyAfterDatagrams < 1 || RekeyAfter <= TimeSpan.Zero)
        {
            throw new DrtException(DrtError.InvalidSettings, "Session limits: MaxSessions in 1..1,000,000, MaxHandshakes, HandshakeBurst, HandshakesPerSecond and RekeyAfterDatagrams at least 1, MaxHeld at least 0, HandshakeAttempts in 1..8, HandshakeTimeout and RekeyAfter positive.");
        }
    }
}
