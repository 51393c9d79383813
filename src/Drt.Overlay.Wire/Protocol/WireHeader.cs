using System.Buffers.Binary;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>Bits of the header's flags byte.</summary>
[Flags]
internal enum HeaderFlags : byte
{
    /// <summary>No flags.</summary>
    None = 0,

    /// <summary>
    /// The datagram ends with an authentication trailer (membership modes). Reserved: decoders of this version
    /// reject bodies with trailing bytes, so a node that sets it must know its peers read it.
    /// </summary>
    Authenticated = 0x01,

    /// <summary>
    /// The body is followed by padding: any bytes, then their count as a big-endian u16 (the two count bytes not
    /// included). A requester pads so that the answer it wants is no larger than its request (anti-amplification,
    /// docs/protocol.md); the receiver strips the padding before decoding the body.
    /// </summary>
    Padded = 0x02,
}

/// <summary>
/// What a node expects of every header it accepts: one network, one application major version, one security mode.
/// </summary>
/// <param name="NetworkId">The overlay's network id; datagrams of other networks are dropped unread.</param>
/// <param name="AppMajor">The application's major version; a different major is incompatible.</param>
/// <param name="AppMinor">The application's minor version; written into our headers, any minor is accepted.</param>
/// <param name="SecurityMode">
/// The network's security mode (0 None, 1 Resolve, 2 Membership, 3 Confidential): every node of a network shares it
/// (DRT: no negotiation), so a datagram of another mode is dropped at the header, before its body is read.
/// </param>
internal readonly record struct WireContext(uint NetworkId, byte AppMajor, byte AppMinor, byte SecurityMode = 0);

/// <summary>
/// The fixed 20-byte header in front of every datagram. It is plain binary rather than MessagePack so that a
/// datagram of another protocol, version or network is rejected by comparing a few bytes, before any body
/// parsing (DESIGN §4, STYLE: cheapest check first).
/// </summary>
/// <remarks>
/// Layout (big-endian): magic "DZ" (2) · protocol version (1) · app major (1) · app minor (1) · type (1) ·
/// flags (1) · security mode (1) · network id (4) · message id (8). A reply carries the message id of the
/// request it answers; a new request carries a fresh random id.
/// </remarks>
internal readonly record struct WireHeader(
    MessageType Type,
    HeaderFlags Flags,
    uint NetworkId,
    byte AppMajor,
    byte AppMinor,
    ulong MessageId,
    byte SecurityMode = 0)
{
    /// <summary>Bytes in the header.</summary>
    public const int Size = 20;

    /// <summary>Where the message type byte sits.</summary>
    public const int TypeOffset = 5;

    /// <summary>Where the flags byte sits.</summary>
    public const int FlagsOffset = 6;

    /// <summary>Where the security mode byte sits (0 = None, so a None network's headers are as before it existed).</summary>
    public const int SecurityModeOffset = 7;

    /// <summary>Where the big-endian 64-bit message id starts.</summary>
    public const int MessageIdOffset = 12;

    /// <summary>The first magic byte ('D').</summary>
    public const byte Magic0 = 0x44;

    /// <summary>The second magic byte ('Z').</summary>
    public const byte Magic1 = 0x5A;

    /// <summary>The protocol version this code speaks.</summary>
    public const byte ProtocolVersion = 1;

    /// <summary>A header for a message of <paramref name="type"/> in <paramref name="context"/>.</summary>
    public static WireHeader Create(in WireContext context, MessageType type, ulong messageId, HeaderFlags flags = HeaderFlags.None)
        => new(type, flags, context.NetworkId, context.AppMajor, context.AppMinor, messageId, context.SecurityMode);

    /// <summary>Writes the header into the first <see cref="Size"/> bytes of <paramref name="destination"/>.</summary>
    public void Write(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            ThrowHelper.ThrowArgumentException(nameof(destination), $"A header needs {Size} bytes; the destination has {destination.Length}.");
        }

        destination[0] = Magic0;
        destination[1] = Magic1;
        destination[2] = ProtocolVersion;
        destination[3] = AppMajor;
        destination[4] = AppMinor;
        destination[TypeOffset] = (byte)Type;
        destination[FlagsOffset] = (byte)Flags;
        destination[SecurityModeOffset] = SecurityMode;
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], NetworkId);
        BinaryPrimitives.WriteUInt64BigEndian(destination[MessageIdOffset..], MessageId);
    }

    /// <summary>
    /// Reads and checks a header, cheapest test first: length, magic, version, network, application, type, security
    /// mode.
    /// Never throws.
    /// </summary>
    public static DecodeStatus TryRead(ReadOnlySpan<byte> datagram, in WireContext expected, out WireHeader header)
    {
        header = default;
        if (datagram.Length < Size)
        {
            // Too short to be ours; a stray byte that also lacks the magic is not ours at all.
            return datagram.Length >= 2 && datagram[0] == Magic0 && datagram[1] == Magic1 ? DecodeStatus.Truncated : DecodeStatus.BadMagic;
        }

        if (datagram[0] != Magic0 || datagram[1] != Magic1)
        {
            return DecodeStatus.BadMagic;
        }

        if (datagram[2] != ProtocolVersion)
        {
            return DecodeStatus.UnsupportedVersion;
        }

        uint networkId = BinaryPrimitives.ReadUInt32BigEndian(datagram[8..]);
        if (networkId != expected.NetworkId)
        {
            return DecodeStatus.WrongNetwork;
        }

        if (datagram[3] != expected.AppMajor)
        {
            return DecodeStatus.IncompatibleApplication;
        }

        var type = (MessageType)datagram[5];
        if (!MessageTypes.IsDefined(type))
        {
            return DecodeStatus.UnknownType;
        }

        if (datagram[SecurityModeOffset] != expected.SecurityMode)
        {
            // A node of the same network id in another mode: never mixed silently (a None node would take unsigned
            // records, a Resolve node would drop them one by one).
            return DecodeStatus.WrongSecurityMode;
        }

        header = new WireHeader(type, (HeaderFlags)datagram[6], networkId, datagram[3], datagram[4], BinaryPrimitives.ReadUInt64BigEndian(datagram[12..]), datagram[SecurityModeOffset]);
        return DecodeStatus.Ok;
    }
}
