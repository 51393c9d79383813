using System.Net;

namespace Drt.Overlay.Transport;

/// <summary>Settings of a <see cref="UdpTransport"/>. Immutable; build variants with <c>with</c>.</summary>
public sealed record UdpTransportOptions
{
    /// <summary>The protocol's datagram cap (IPv6 minimum MTU 1,280 − 48 bytes of IPv6 and UDP headers).</summary>
    public const int DefaultMaxDatagramSize = 1232;

    /// <summary>The most addresses one transport binds (<see cref="BindAddresses"/>): one socket and one receive thread each.</summary>
    public const int MaxBindAddresses = 8;

    private IReadOnlyList<IPAddress> _bindAddresses = [IPAddress.IPv6Any];

    /// <summary>
    /// Address to bind: the first of <see cref="BindAddresses"/>; setting it binds that one address only (it sets
    /// <see cref="BindAddresses"/> to it, and whichever of the two is set last wins). <see cref="IPAddress.IPv6Any"/>
    /// (the default) binds one dual-stack socket that also serves IPv4, falling back to <see cref="IPAddress.Any"/>
    /// where the host has no IPv6.
    /// </summary>
    public IPAddress BindAddress
    {
        get => _bindAddresses is [IPAddress first, ..] ? first : null!;
        init => _bindAddresses = [value];
    }

    /// <summary>
    /// Addresses to bind, 1..<see cref="MaxBindAddresses"/>, one socket each, all on <see cref="Port"/> (with port 0 the
    /// first socket picks a free port and the others take the same one where it is free). For hosts that must not
    /// listen everywhere: several specific addresses (two NICs', or <c>127.0.0.1</c> and <c>::1</c>), each listed
    /// once; a wildcard (<see cref="IPAddress.IPv6Any"/>, <see cref="IPAddress.Any"/>) already receives on every
    /// address and is accepted only alone, and IPv4 is written as IPv4, not IPv4-mapped. A datagram leaves through the
    /// socket whose address suits the destination (its family, then the longest shared prefix; see
    /// <see cref="UdpTransport.TrySend"/>). Default: <see cref="IPAddress.IPv6Any"/> alone. The list is copied.
    /// </summary>
    public IReadOnlyList<IPAddress> BindAddresses
    {
        get => _bindAddresses;
        init => _bindAddresses = value is null ? null! : [.. value];
    }

    /// <summary>UDP port to bind; 0 (the default) lets the system choose. DRT's well-known port is 3540.</summary>
    public int Port { get; init; }

    /// <summary>Largest datagram sent or accepted, 512..65,507; larger arrivals are dropped and counted. Default 1,232.</summary>
    public int MaxDatagramSize { get; init; } = DefaultMaxDatagramSize;

    /// <summary>Kernel receive buffer in bytes (SO_RCVBUF), 0 for the system default. Default 1 MiB: bursts of answers fit.</summary>
    public int ReceiveBufferSize { get; init; } = 1 << 20;

    /// <summary>Kernel send buffer in bytes (SO_SNDBUF), 0 for the system default. Default 256 KiB.</summary>
    public int SendBufferSize { get; init; } = 1 << 18;

    /// <summary>Throws <see cref="DrtException"/> (<see cref="DrtError.InvalidSettings"/>) naming the first bad setting.</summary>
    public void Validate()
    {
        if (BindAddressRules.Problem(BindAddresses, "UdpTransportOptions.BindAddresses") is { } problem)
        {
            throw new DrtException(DrtError.InvalidSettings, problem);
        }

        if (Port is < IPEndPoint.MinPort or > IPEndPoint.MaxPort)
        {
            throw new DrtException(DrtError.InvalidSettings, $"UdpTransportOptions.Port must be 0..65535 (0 = any free port); got {Port}.");
        }

        if (MaxDatagramSize is < 512 or > 65_507)
        {
            throw new DrtException(DrtError.InvalidSettings, $"UdpTransportOptions.MaxDatagramSize must be 512..65507 bytes; got {MaxDatagramSize}.");
        }

        if (ReceiveBufferSize < 0 || SendBufferSize < 0)
        {
            throw new DrtException(DrtError.InvalidSettings, $"UdpTransportOptions socket buffer sizes must be 0 (system default) or positive; got receive {ReceiveBufferSize}, send {SendBufferSize}.");
        }
    }
}
