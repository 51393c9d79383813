using System.Net;
using Drt.Overlay.Routing;
using Drt.Overlay.Security;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Engine;

/// <summary>Settings of one engine; validated once, when the engine is built.</summary>
internal sealed record EngineOptions
{
    /// <summary>The overlay's network id: datagrams of other networks are dropped unread.</summary>
    public uint NetworkId { get; init; } = 0x44525431; // "DRT1"

    /// <summary>The application's major version; peers with another major are incompatible.</summary>
    public byte AppMajor { get; init; } = 1;

    /// <summary>The application's minor version.</summary>
    public byte AppMinor { get; init; }

    /// <summary>Leaf-set entries per side for each registered key (5..16).</summary>
    public int LeafSetSide { get; init; } = LeafSet.DefaultSideCapacity;

    /// <summary>Parallel queries per search (α).</summary>
    public int Alpha { get; init; } = 3;

    /// <summary>Transmissions of one request before the peer counts as unreachable for it.</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>Most peers tracked at once.</summary>
    public int MaxPeers { get; init; } = 4096;

    /// <summary>Most requests awaiting answers at once.</summary>
    public int MaxPending { get; init; } = 4096;

    /// <summary>Most searches running at once.</summary>
    public int MaxSearches { get; init; } = 256;

    /// <summary>Most routed messages this instance is responsible for at once (originated or forwarded, unacknowledged).</summary>
    public int MaxRoutesInFlight { get; init; } = 256;

    /// <summary>
    /// The security provider: its mode decides whether datagrams are sealed (Membership, Confidential: per-peer
    /// sessions, Engine.Sessions.cs). Default <see cref="NullSecurityProvider.Instance"/> (mode None).
    /// </summary>
    public ISecurityProvider SecurityProvider { get; init; } = NullSecurityProvider.Instance;

    /// <summary>Limits of the per-peer sessions in membership modes.</summary>
    public SessionOptions Sessions { get; init; } = new();

    /// <summary>Where to find the network when alone.</summary>
    public IReadOnlyList<IPEndPoint> Bootstrap { get; init; } = [];

    /// <summary>
    /// How often each key exchanges leaf sets with its nearest neighbours (±10% jitter). Default 12 s: about four
    /// maintenance datagrams per key per period in a stable network, within DESIGN's 0.5 per second per node.
    /// </summary>
    public TimeSpan MaintenancePeriod { get; init; } = TimeSpan.FromSeconds(12);

    /// <summary><see cref="MaintenancePeriod"/> in microseconds.</summary>
    public long MaintenancePeriodMicros => MaintenancePeriod.Ticks / TimeSpan.TicksPerMicrosecond;

    /// <summary>The wire context this engine reads and writes with.</summary>
    public WireContext WireContext => new(NetworkId, AppMajor, AppMinor);

    /// <summary>Throws when a setting is out of range, naming it.</summary>
    public void Validate()
    {
        if (LeafSetSide is < LeafSet.MinSideCapacity or > LeafSet.MaxSideCapacity)
        {
            throw new DrtException(DrtError.InvalidSettings, $"LeafSetSide must be in {LeafSet.MinSideCapacity}..{LeafSet.MaxSideCapacity}; it was {LeafSetSide}.");
        }

        if (Alpha is < 1 or > 16)
        {
            throw new DrtException(DrtError.InvalidSettings, $"Alpha must be in 1..16; it was {Alpha}.");
        }

        if (MaxAttempts is < 1 or > 8)
        {
            throw new DrtException(DrtError.InvalidSettings, $"MaxAttempts must be in 1..8; it was {MaxAttempts}.");
        }

        if (MaintenancePeriod < TimeSpan.FromMilliseconds(100) || MaintenancePeriod > TimeSpan.FromHours(1))
        {
            throw new DrtException(DrtError.InvalidSettings, $"MaintenancePeriod must be between 100 ms and 1 h; it was {MaintenancePeriod}.");
        }

        if (MaxPeers < 16 || MaxPending < 16 || MaxSearches is < 1 or > 65_535 || MaxRoutesInFlight < 1)
        {
            throw new DrtException(DrtError.InvalidSettings, "MaxPeers and MaxPending must be at least 16, MaxSearches in 1..65535 and MaxRoutesInFlight at least 1.");
        }
    }
}
