using System.Net;

namespace Drt.Overlay.Transport;

/// <summary>Settings of a <see cref="UdpTransport"/>. Immutable; build variants with <c>with</c>.</summary>
public sealed record UdpTransportOptions
{
    /// <summary>The protocol's datagram cap (IPv6 minimum MTU 1,280 − 48 bytes of IPv6 and UDP headers).</summary>
    public const int DefaultMaxDatagramSize = 1232;

    /// <summary>
    /// Address to bind. <see cref="IPAddress.IPv6Any"/> (the default) binds one dual-stack socket that also serves
    /// IPv4, falling back to <see cref="IPAddress.Any"/> where the host has no IPv6.
    /// </summary>
    public IPAddress BindAddress { get; init; } = IPAddress.IPv6Any;

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
        if (BindAddress is null)
        {
            throw new DrtException(DrtError.InvalidSettings, "UdpTransportOptions.BindAddress is null; use IPAddress.IPv6Any to listen on every address.");
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
