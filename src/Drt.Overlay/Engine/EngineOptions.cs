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
    /// How many of the transport's local endpoints a registration's record lists, in their order, 1..20 (DRT's maximum
    /// addresses per registration; default 4). Route entries carry the first alone.
    /// </summary>
    public int MaxAdvertisedEndpoints { get; init; } = 4;

    /// <summary>
    /// Whether datagrams from source ports below 1024 are accepted. Off by default: overlay nodes use unprivileged
    /// ports, and a privileged source port is usually a reflector (DNS 53, NTP 123, SSDP's 1900 aside) answering a
    /// spoofed request of someone else's.
    /// </summary>
    public bool AllowPrivilegedSourcePorts { get; init; }

    /// <summary>
    /// Datagrams per second one source address (address and port) may send on average (token bucket refill).
    /// Default 1,000: maintenance is about half a datagram per second per node and searches are bursty, so an honest
    /// peer never gets near it.
    /// </summary>
    public int SourceRate { get; init; } = 1_000;

    /// <summary>Datagrams one source may send at once (the bucket's depth). Default 2,000.</summary>
    public int SourceBurst { get; init; } = 2_000;

    /// <summary>Datagrams per second from all sources together (default 50,000: below what one engine thread handles).</summary>
    public int GlobalRate { get; init; } = 50_000;

    /// <summary>Datagrams at once from all sources together. Default 50,000.</summary>
    public int GlobalBurst { get; init; } = 50_000;

    /// <summary>
    /// Join handshake datagrams (solicits and requests) per second from all sources together: the expensive first
    /// contacts (and, in membership modes, the key agreements) get their own smaller bucket. Default 500.
    /// </summary>
    public int HandshakeRate { get; init; } = 500;

    /// <summary>Join handshake datagrams at once. Default 2,000 (a thousand nodes joining through one bootstrap node).</summary>
    public int HandshakeBurst { get; init; } = 2_000;

    /// <summary>
    /// Sources whose rate is tracked at once (rounded up to a multiple of 4); the one idle longest in its set makes
    /// room for a new one. Default 1,024.
    /// </summary>
    public int MaxRateLimitedSources { get; init; } = 1_024;


    /// <summary>Limits of the per-peer sessions in membership modes (Engine.Sessions.cs).</summary>
    public SessionOptions Sessions { get; init; } = new();

    /// <summary>Where to find the network when alone.</summary>
    public IReadOnlyList<IPEndPoint> Bootstrap { get; init; } = [];

    /// <summary>
    /// How often each key exchanges leaf sets with its nearest neighbours (±10% jitter). Default 12 s: about four
    /// maintenance datagrams per key per period in a stable network, within DESIGN's 0.5 per second per node.
    /// </summary>
    public TimeSpan MaintenancePeriod { get; init; } = TimeSpan.FromSeconds(12);

    /// <summary>
    /// Who this instance is and what it proves (docs/security.md): the provider's mode is the network's security mode,
    /// written into every header; from Resolve up every registration is a signed record, and in Membership and
    /// Confidential datagrams between members are sealed (per-peer sessions, Engine.Sessions.cs).
    /// </summary>
    public ISecurityProvider SecurityProvider { get; init; } = NullSecurityProvider.Instance;

    /// <summary>
    /// How long a signed record is valid (secure modes): the owner re-signs it, with a higher sequence, when a quarter
    /// of this is left, so a record that stops being renewed (its owner gone, or its provider unable to vouch) is
    /// refused by everyone within this time. Default 1 h; 10 s..7 days.
    /// </summary>
    public TimeSpan RecordLifetime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Keys whose newest verified record version the engine remembers (one Ed25519 verify per version).</summary>
    public int RecordCacheCapacity { get; init; } = 4096;

    /// <summary>
    /// Pair keys (secure modes) the engine holds at once, one per peer exchange key it has proved answers to or checked
    /// answers from; the oldest is evicted when full. Default 1,024; 16..65,536.
    /// </summary>
    public int PairKeyCapacity { get; init; } = 1_024;

    /// <summary>
    /// Pair-key agreements per second an owner makes for searchers it holds no pair key with (X25519, about two
    /// signatures' worth each; a searcher's own agreements are not limited). Beyond it an answer is signed. Default 64.
    /// </summary>
    public int PairAgreementRate { get; init; } = 64;

    /// <summary>Pair-key agreements at once. Default 256 (a node meeting its whole neighbourhood at start).</summary>
    public int PairAgreementBurst { get; init; } = 256;

    /// <summary>
    /// Signed nonce proofs per second an owner makes when it holds no pair key with the searcher and may not agree one;
    /// beyond it an inquiry is answered Busy, so a flood of inquiries costs at most this many signatures. Default 1,000.
    /// </summary>
    public int ProofSignatureRate { get; init; } = 1_000;

    /// <summary>Signed nonce proofs at once. Default 1,000.</summary>
    public int ProofSignatureBurst { get; init; } = 1_000;

    /// <summary><see cref="MaintenancePeriod"/> in microseconds.</summary>
    public long MaintenancePeriodMicros => MaintenancePeriod.Ticks / TimeSpan.TicksPerMicrosecond;

    /// <summary>The wire context this engine reads and writes with.</summary>
    public WireContext WireContext => new(NetworkId, AppMajor, AppMinor, (byte)SecurityProvider.Mode);

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

        if (SecurityProvider is null)
        {
            throw new DrtException(DrtError.InvalidSettings, "SecurityProvider is null; use NullSecurityProvider.Instance for mode None.");
        }

        if (SecurityProvider.Mode is < DrtSecurityMode.None or > DrtSecurityMode.Confidential)
        {
            throw new DrtException(DrtError.InvalidSettings, $"The security provider's mode {SecurityProvider.Mode} is not one of None, Resolve, Membership, Confidential.");
        }

        if (SecurityProvider.Mode != DrtSecurityMode.None && (SecurityProvider.PublicKey.Length != WireLimits.PublicKeyLength || SecurityProvider.SignatureLength != WireLimits.SignatureLength))
        {
            throw new DrtException(DrtError.CapabilityMismatch, $"Mode {SecurityProvider.Mode} needs a provider with a {WireLimits.PublicKeyLength}-byte public key and {WireLimits.SignatureLength}-byte signatures (Ed25519); this one has {SecurityProvider.PublicKey.Length} and {SecurityProvider.SignatureLength}. Use DerivedKeySecurityProvider.");
        }

        if (SecurityProvider is DerivedKeySecurityProvider derived && derived.NetworkId != NetworkId)
        {
            throw new DrtException(DrtError.CapabilityMismatch, $"The security provider was built for network id {derived.NetworkId} but the instance uses {NetworkId}; build the provider with the instance's NetworkId.");
        }

        if (RecordLifetime < TimeSpan.FromSeconds(10) || RecordLifetime > TimeSpan.FromDays(7))
        {
            throw new DrtException(DrtError.InvalidSettings, $"RecordLifetime must be between 10 s and 7 days; it was {RecordLifetime}.");
        }

        if (RecordCacheCapacity is < 16 or > 1_000_000)
        {
            throw new DrtException(DrtError.InvalidSettings, $"RecordCacheCapacity must be in 16..1,000,000; it was {RecordCacheCapacity}.");
        }

        if (PairKeyCapacity is < 16 or > 65_536)
        {
            throw new DrtException(DrtError.InvalidSettings, $"PairKeyCapacity must be in 16..65,536; it was {PairKeyCapacity}.");
        }

        if (MaxAdvertisedEndpoints is < 1 or > WireLimits.MaxRecordEndpoints)
        {
            throw new DrtException(DrtError.InvalidSettings, $"MaxAdvertisedEndpoints must be in 1..{WireLimits.MaxRecordEndpoints}; it was {MaxAdvertisedEndpoints}.");
        }

        if (MaxPeers < 16 || MaxPending < 16 || MaxSearches is < 1 or > 65_535 || MaxRoutesInFlight < 1)
        {
            throw new DrtException(DrtError.InvalidSettings, "MaxPeers and MaxPending must be at least 16, MaxSearches in 1..65535 and MaxRoutesInFlight at least 1.");
        }

        ValidateRate(nameof(SourceRate), SourceRate, nameof(SourceBurst), SourceBurst);
        ValidateRate(nameof(GlobalRate), GlobalRate, nameof(GlobalBurst), GlobalBurst);
        ValidateRate(nameof(HandshakeRate), HandshakeRate, nameof(HandshakeBurst), HandshakeBurst);
        ValidateRate(nameof(PairAgreementRate), PairAgreementRate, nameof(PairAgreementBurst), PairAgreementBurst);
        ValidateRate(nameof(ProofSignatureRate), ProofSignatureRate, nameof(ProofSignatureBurst), ProofSignatureBurst);
        if (MaxRateLimitedSources is < 4 or > 1 << 20)
        {
            throw new DrtException(DrtError.InvalidSettings, $"MaxRateLimitedSources must be in 4..{1 << 20}; it was {MaxRateLimitedSources}.");
        }
    }

    /// <summary>
    /// A rate in 1..1,000,000 per second and a burst of at least 1 and at most 1,000,000; the message names the one
    /// out of range (the bucket's fixed point multiplies both by 10⁶).
    /// </summary>
    private static void ValidateRate(string rateName, int rate, string burstName, int burst)
    {
        if (rate is < 1 or > TokenBucket.MaxRate)
        {
            throw new DrtException(DrtError.InvalidSettings, $"{rateName} must be in 1..{TokenBucket.MaxRate}; it was {rate}.");
        }

        if (burst is < 1 or > TokenBucket.MaxRate)
        {
            throw new DrtException(DrtError.InvalidSettings, $"{burstName} must be in 1..{TokenBucket.MaxRate}; it was {burst}.");
        }
    }
}
