using System.Net;
using Drt.Overlay.Bootstrap;
using Drt.Overlay.Engine;
using Drt.Overlay.Routing;
using Drt.Overlay.Security;
using Drt.Overlay.Transport;

namespace Drt.Overlay;

/// <summary>How a <see cref="DrtInstance"/> is opened (DRT_SETTINGS). Validated by <see cref="DrtInstance.OpenAsync"/>.</summary>
public sealed record DrtSettings
{
    /// <summary>The only key size there is: 32 bytes, 256 bits.</summary>
    public const int KeySize = 32;

    /// <summary>The largest application data a registration carries.</summary>
    public const int MaxAppDataSize = 5_120;

    /// <summary>The largest payload <see cref="DrtInstance.RouteAsync"/> carries (it fits one datagram).</summary>
    public const int MaxRoutePayloadSize = Wire.Protocol.WireLimits.MaxRoutePayload;

    /// <summary>The instance's name (DRT's instance prefix): 1..128 characters; it tags logs and metrics.</summary>
    public string InstanceName { get; init; } = "drt";

    /// <summary>The key size in bytes; anything but <see cref="KeySize"/> is refused (DRT_E_INVALID_KEY_SIZE).</summary>
    public int KeySizeBytes { get; init; } = KeySize;

    private IReadOnlyList<IPAddress> _bindAddresses = [IPAddress.IPv6Any];

    /// <summary>
    /// Endpoints published per registration, 1..20 (default 4): the first this many of <see cref="BindAddresses"/>, on
    /// the port bound.
    /// </summary>
    public int MaxAddressesPerRegistration { get; init; } = 4;

    /// <summary>The UDP port, 0..65535; 0 picks a free one.</summary>
    public int Port { get; init; }

    /// <summary>
    /// The address to bind: <see cref="IPAddress.IPv6Any"/> (dual-stack) by default. It is the first of
    /// <see cref="BindAddresses"/>: setting it binds that one address only, and whichever of the two is set last wins.
    /// </summary>
    public IPAddress BindAddress
    {
        get => _bindAddresses is [IPAddress first, ..] ? first : null!;
        init => _bindAddresses = [value];
    }

    /// <summary>
    /// The addresses to bind, 1..<see cref="UdpTransportOptions.MaxBindAddresses"/>, all on <see cref="Port"/>: for a
    /// host that must not listen everywhere, its specific addresses (two NICs', or <c>127.0.0.1</c> and <c>::1</c>),
    /// each once. <see cref="IPAddress.IPv6Any"/> alone (the default) already receives on every address, and a wildcard is
    /// refused in a longer list. The instance's registrations list every bound endpoint (up to
    /// <see cref="MaxAddressesPerRegistration"/>), so searches return them all; its route entries in other nodes' tables
    /// carry the first, which every peer should be able to reach. The list is copied.
    /// </summary>
    public IReadOnlyList<IPAddress> BindAddresses
    {
        get => _bindAddresses;
        init => _bindAddresses = value is null ? null! : [.. value];
    }

    /// <summary>The overlay's network id: instances with different ids ignore each other.</summary>
    public uint NetworkId { get; init; } = new EngineOptions().NetworkId;

    /// <summary>The application protocol's major version: peers with another major are ignored.</summary>
    public byte ProtocolMajor { get; init; } = 1;

    /// <summary>The application protocol's minor version, written into every message; peers accept any minor.</summary>
    public byte ProtocolMinor { get; init; }

    /// <summary>Where to find the ring; none: this instance starts one (or waits to be found).</summary>
    public IBootstrapProvider? BootstrapProvider { get; init; }

    /// <summary>Leaf-set entries per side for each registered key, 5..16.</summary>
    public int LeafSetSide { get; init; } = LeafSet.DefaultSideCapacity;

    /// <summary>How often each key exchanges leaf sets with its nearest neighbours (100 ms..1 h).</summary>
    public TimeSpan MaintenancePeriod { get; init; } = new EngineOptions().MaintenancePeriod;

    /// <summary>How many bootstrap endpoints to ask the provider for, 1..64 (default 16).</summary>
    public int MaxBootstrapEndpoints { get; init; } = 16;

    /// <summary>
    /// How many undelivered events are held for the handlers, and for each reader of
    /// <see cref="DrtInstance.Events"/>, 16..1,000,000 (default 1,024); beyond it events are dropped and counted.
    /// </summary>
    public int EventQueueCapacity { get; init; } = 1_024;

    /// <summary>
    /// The transport to use instead of UDP on <see cref="BindAddresses"/> and <see cref="Port"/> (those two are then
    /// ignored): an impairment layer, a test network. It must not have been started; the instance starts it and closes
    /// it when it closes.
    /// </summary>
    public IDatagramTransport? Transport { get; init; }

    /// <summary>
    /// The instance's clock: maintenance periods, timeouts and backoffs all run on it (<see cref="TimeProvider.System"/>
    /// by default; a virtual clock makes a whole network testable in simulated time).
    /// </summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// Who the instance is and what the network proves (DRT's security provider). Its <see cref="ISecurityProvider.Mode"/>
    /// is the instance's security mode, the one source of it: every node of a network must use the same mode (a node of
    /// another mode is ignored, datagram by datagram). <see cref="NullSecurityProvider.Instance"/> (mode None) by
    /// default; a <see cref="DerivedKeySecurityProvider"/> for Resolve and up, built with this instance's
    /// <see cref="NetworkId"/> (otherwise opening fails with <see cref="DrtError.CapabilityMismatch"/>). In Membership
    /// and Confidential every peer proves membership at first contact and every datagram between members is sealed
    /// (Confidential: encrypted too); a non-member gets no answer of any kind. When the provider's own credential
    /// expires, the instance raises <see cref="DrtInstance.RegistrationStateChanged"/>
    /// (<see cref="DrtRegistrationState.Unresolvable"/>) for each of its keys. The instance uses the provider but does
    /// not own it (nor its identity): dispose those after closing.
    /// </summary>
    public ISecurityProvider SecurityProvider { get; init; } = NullSecurityProvider.Instance;

    /// <summary>
    /// How long each signed record is valid (modes Resolve and up), 10 s..7 days (default 1 h). The instance re-signs
    /// its records while they are registered, when a quarter of this is left; a record its provider can no longer
    /// vouch for (a credential past its not-after) runs out, others refuse it, and
    /// <see cref="DrtInstance.RegistrationStateChanged"/> reports it unresolvable.
    /// </summary>
    public TimeSpan RecordValidity { get; init; } = new EngineOptions().RecordLifetime;

    /// <summary>Seeds the engine's (non-cryptographic) randomness, for runs that must replay; null: unseeded.</summary>
    internal int? RandomSeed { get; init; }

    /// <summary>Throws <see cref="DrtException"/> naming the first setting out of range and what is allowed.</summary>
    internal void Validate()
    {
        if (string.IsNullOrEmpty(InstanceName) || InstanceName.Length > 128)
        {
            throw new DrtException(DrtError.InvalidInstanceName, $"InstanceName must be 1..128 characters; it was {(InstanceName is null ? "null" : $"{InstanceName.Length} characters")}.");
        }

        if (KeySizeBytes != KeySize)
        {
            throw new DrtException(DrtError.InvalidKeySize, $"KeySizeBytes must be {KeySize} (keys are 256 bits); it was {KeySizeBytes}.");
        }

        if (MaxAddressesPerRegistration is < 1 or > 20)
        {
            throw new DrtException(DrtError.InvalidMaxAddresses, $"MaxAddressesPerRegistration must be in 1..20; it was {MaxAddressesPerRegistration}.");
        }

        if (Port is < 0 or > 65535)
        {
            throw new DrtException(DrtError.InvalidSettings, $"Port must be in 0..65535 (0 picks a free port); it was {Port}.");
        }

        if (Transport is null && BindAddressRules.Problem(BindAddresses, nameof(BindAddresses)) is { } problem)
        {
            throw new DrtException(DrtError.InvalidSettings, problem);
        }

        if (TimeProvider is null)
        {
            throw new DrtException(DrtError.InvalidSettings, "TimeProvider is null; leave it unset for the system clock.");
        }

        if (SecurityProvider is null)
        {
            throw new DrtException(DrtError.InvalidSettings, "SecurityProvider is null; leave it unset for NullSecurityProvider.Instance (mode None).");
        }

        if (MaxBootstrapEndpoints is < 1 or > 64)
        {
            throw new DrtException(DrtError.InvalidSettings, $"MaxBootstrapEndpoints must be in 1..64; it was {MaxBootstrapEndpoints}.");
        }

        if (EventQueueCapacity is < 16 or > 1_000_000)
        {
            throw new DrtException(DrtError.InvalidSettings, $"EventQueueCapacity must be in 16..1,000,000; it was {EventQueueCapacity}.");
        }

        EngineOptions().Validate();
    }

    /// <summary>The engine's options for these settings, with the bootstrap endpoints resolved.</summary>
    internal EngineOptions EngineOptions(IReadOnlyList<IPEndPoint>? bootstrap = null) => new()
    {
        NetworkId = NetworkId,
        AppMajor = ProtocolMajor,
        AppMinor = ProtocolMinor,
        LeafSetSide = LeafSetSide,
        MaintenancePeriod = MaintenancePeriod,
        SecurityProvider = SecurityProvider,
        RecordLifetime = RecordValidity,
        MaxAdvertisedEndpoints = MaxAddressesPerRegistration,
        Bootstrap = bootstrap ?? [],
    };

    /// <summary>The transport's options for these settings.</summary>
    internal UdpTransportOptions TransportOptions() => new() { BindAddresses = BindAddresses, Port = Port };
}
