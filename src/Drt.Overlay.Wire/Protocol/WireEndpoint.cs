using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using MessagePack;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>
/// An IPv4 or IPv6 UDP endpoint as it travels on the wire: one binary value of 6 bytes (IPv4 address, port) or
/// 18 bytes (IPv6 address, port), big-endian. Held inline (two limbs), so decoding and comparing allocate nothing.
/// </summary>
/// <remarks>
/// IPv4-mapped IPv6 addresses are stored as IPv4: a dual-stack socket reports them either way and one node must
/// not look like two. Port 0 and unspecified addresses are malformed: nobody can be reached there.
/// </remarks>
internal readonly struct WireEndpoint : IEquatable<WireEndpoint>, IWireElement<WireEndpoint>
{
    private const int V4Length = 6;
    private const int V6Length = 18;

    // IPv6: the 16 address bytes, most significant first. IPv4: the 4 bytes in the low half of _lo.
    private readonly ulong _hi;
    private readonly ulong _lo;

    private WireEndpoint(ulong hi, ulong lo, ushort port, bool isIPv6)
    {
        _hi = hi;
        _lo = lo;
        Port = port;
        IsIPv6 = isIPv6;
    }

    /// <summary>The UDP port.</summary>
    public ushort Port { get; }

    /// <summary>Whether this is an IPv6 endpoint (otherwise IPv4).</summary>
    public bool IsIPv6 { get; }

    /// <summary>Whether this holds an endpoint at all (default is empty).</summary>
    public bool IsEmpty => Port == 0;

    /// <summary>Bytes of the binary value on the wire (without its MessagePack header).</summary>
    public int EncodedLength => IsIPv6 ? V6Length : V4Length;

    /// <summary>An IPv4 endpoint from its address bytes (big-endian) and port.</summary>
    public static WireEndpoint FromIPv4(uint address, ushort port) => new(0, address, port, isIPv6: false);

    /// <summary>An endpoint from an <see cref="IPEndPoint"/>; IPv4-mapped addresses become IPv4.</summary>
    public static WireEndpoint FromIPEndPoint(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        Span<byte> bytes = stackalloc byte[16];
        IPAddress address = endPoint.Address.IsIPv4MappedToIPv6 ? endPoint.Address.MapToIPv4() : endPoint.Address;
        if (!address.TryWriteBytes(bytes, out int written))
        {
            ThrowHelper.ThrowArgumentException(nameof(endPoint), "The address could not be read.");
        }

        return written == 4
            ? FromIPv4(BinaryPrimitives.ReadUInt32BigEndian(bytes), (ushort)endPoint.Port)
            : new WireEndpoint(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]), (ushort)endPoint.Port, isIPv6: true);
    }

    /// <summary>
    /// Reads an endpoint out of a <see cref="SocketAddress"/> without allocating; IPv4-mapped IPv6 becomes IPv4.
    /// </summary>
    /// <returns>False for families other than IPv4 and IPv6.</returns>
    public static bool TryFromSocketAddress(SocketAddress address, out WireEndpoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(address);
        endpoint = default;
        ReadOnlySpan<byte> raw = address.Buffer.Span[..address.Size];

        // sockaddr_in / sockaddr_in6: the port sits big-endian at offset 2 on every platform .NET runs on;
        // the IPv4 address at 4, the IPv6 address at 8.
        if (address.Family == AddressFamily.InterNetwork && raw.Length >= 8)
        {
            endpoint = FromIPv4(BinaryPrimitives.ReadUInt32BigEndian(raw[4..]), BinaryPrimitives.ReadUInt16BigEndian(raw[2..]));
            return true;
        }

        if (address.Family == AddressFamily.InterNetworkV6 && raw.Length >= 24)
        {
            ushort port = BinaryPrimitives.ReadUInt16BigEndian(raw[2..]);
            ulong hi = BinaryPrimitives.ReadUInt64BigEndian(raw[8..]);
            ulong lo = BinaryPrimitives.ReadUInt64BigEndian(raw[16..]);
            endpoint = IsMapped(hi, lo) ? FromIPv4((uint)lo, port) : new WireEndpoint(hi, lo, port, isIPv6: true);
            return true;
        }

        return false;
    }

    /// <summary>
    /// Writes this endpoint into <paramref name="address"/>, which must be of the matching family (IPv4 endpoints
    /// into an IPv6 address become IPv4-mapped, for dual-stack sockets). No allocation.
    /// </summary>
    public void WriteTo(SocketAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> raw = address.Buffer.Span;
        if (address.Family == AddressFamily.InterNetwork)
        {
            if (IsIPv6)
            {
                ThrowHelper.ThrowArgumentException(nameof(address), "An IPv6 endpoint does not fit an IPv4 socket address.");
            }

            BinaryPrimitives.WriteUInt16BigEndian(raw[2..], Port);
            BinaryPrimitives.WriteUInt32BigEndian(raw[4..], (uint)_lo);
            return;
        }

        if (address.Family != AddressFamily.InterNetworkV6)
        {
            ThrowHelper.ThrowArgumentException(nameof(address), "Only IPv4 and IPv6 socket addresses are supported.");
        }

        BinaryPrimitives.WriteUInt16BigEndian(raw[2..], Port);
        raw.Slice(4, 4).Clear(); // flow info
        BinaryPrimitives.WriteUInt64BigEndian(raw[8..], IsIPv6 ? _hi : 0);
        BinaryPrimitives.WriteUInt64BigEndian(raw[16..], IsIPv6 ? _lo : 0x0000_FFFF_0000_0000UL | (uint)_lo);
        if (address.Size >= 28)
        {
            raw.Slice(24, 4).Clear(); // scope id
        }
    }

    /// <summary>This endpoint as an <see cref="IPEndPoint"/> (allocates; for APIs and logs, not the hot path).</summary>
    public IPEndPoint ToIPEndPoint()
    {
        Span<byte> bytes = stackalloc byte[16];
        if (IsIPv6)
        {
            BinaryPrimitives.WriteUInt64BigEndian(bytes, _hi);
            BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], _lo);
            return new IPEndPoint(new IPAddress(bytes), Port);
        }

        BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)_lo);
        return new IPEndPoint(new IPAddress(bytes[..4]), Port);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public void Write(ref MessagePackWriter writer)
    {
        int length = EncodedLength;
        Span<byte> span = writer.GetSpan(2 + length);
        span[0] = MessagePackCode.Bin8;
        span[1] = (byte)length;
        WriteBytes(span[2..]);
        writer.Advance(2 + length);
    }

    /// <summary>Reads an endpoint; port 0, unspecified addresses and wrong lengths are malformed.</summary>
    public static DecodeStatus TryRead(ref WireReader reader, out WireEndpoint value)
    {
        value = default;
        DecodeStatus status = reader.ReadBinarySpan(V4Length, V6Length, out ReadOnlySpan<byte> bytes);
        if (status != DecodeStatus.Ok)
        {
            return status == DecodeStatus.TooLarge ? DecodeStatus.Malformed : status;
        }

        WireEndpoint endpoint;
        if (bytes.Length == V4Length)
        {
            endpoint = FromIPv4(BinaryPrimitives.ReadUInt32BigEndian(bytes), BinaryPrimitives.ReadUInt16BigEndian(bytes[4..]));
        }
        else if (bytes.Length == V6Length)
        {
            ulong hi = BinaryPrimitives.ReadUInt64BigEndian(bytes);
            ulong lo = BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]);
            ushort port = BinaryPrimitives.ReadUInt16BigEndian(bytes[16..]);

            // A mapped address on the wire would give one node two identities; the encoder never writes one.
            if (IsMapped(hi, lo))
            {
                return DecodeStatus.Malformed;
            }

            endpoint = new WireEndpoint(hi, lo, port, isIPv6: true);
        }
        else
        {
            return DecodeStatus.Malformed;
        }

        if (endpoint.Port == 0 || (endpoint._hi | endpoint._lo) == 0)
        {
            return DecodeStatus.Malformed;
        }

        value = endpoint;
        return DecodeStatus.Ok;
    }

    private int WriteBytes(Span<byte> destination)
    {
        if (IsIPv6)
        {
            BinaryPrimitives.WriteUInt64BigEndian(destination, _hi);
            BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _lo);
            BinaryPrimitives.WriteUInt16BigEndian(destination[16..], Port);
            return V6Length;
        }

        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)_lo);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], Port);
        return V4Length;
    }

    private static bool IsMapped(ulong hi, ulong lo) => hi == 0 && (lo >> 32) == 0xFFFF;

    /// <inheritdoc/>
    public bool Equals(WireEndpoint other) => _hi == other._hi && _lo == other._lo && Port == other.Port && IsIPv6 == other.IsIPv6;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is WireEndpoint other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_hi, _lo, Port, IsIPv6);

    /// <inheritdoc/>
    public override string ToString() => IsEmpty ? "(none)" : ToIPEndPoint().ToString();

    /// <summary>Equality.</summary>
    public static bool operator ==(WireEndpoint left, WireEndpoint right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(WireEndpoint left, WireEndpoint right) => !left.Equals(right);
}
