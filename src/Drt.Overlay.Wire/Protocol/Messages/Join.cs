using MessagePack;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>
/// Join step 1 (DRT's SOLICIT): the joiner commits to a fresh 16-byte nonce by sending SHA-256 of it, with its own
/// route entry when it has a key. Body: [nonce hash (bin 32), sender entry or nil, padding (bin)].
/// </summary>
/// <remarks>
/// The receiver keeps no state and sends nothing larger than the solicit itself until the joiner proves it
/// receives at its claimed address (by revealing the nonce in a <see cref="Request"/>). The padding lets a joiner
/// pay for a full <see cref="Advertise"/> in advance: an answer is cut to the solicit's size.
/// </remarks>
/// <param name="NonceHash">SHA-256 of the joiner's nonce (32 bytes).</param>
/// <param name="Sender">The joiner's own entry, when it registers a key.</param>
/// <param name="PaddingLength">Zero bytes appended so the advertise fits within the solicit's size.</param>
internal readonly record struct Solicit(ReadOnlyMemory<byte> NonceHash, RouteEntry? Sender, int PaddingLength) : IWireMessage<Solicit>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.Solicit;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(3);
        writer.Write(NonceHash.Span);
        RouteEntry.WriteOptional(ref writer, Sender);
        int padding = Math.Clamp(PaddingLength, 0, WireLimits.MaxPadding);
        writer.WriteBinHeader(padding);
        Span<byte> zeros = writer.GetSpan(padding)[..padding];
        zeros.Clear();
        writer.Advance(padding);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out Solicit value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(3)) != DecodeStatus.Ok
            || (s = reader.ReadBinary(WireLimits.NonceHashLength, WireLimits.NonceHashLength, out ReadOnlyMemory<byte> hash)) != DecodeStatus.Ok
            || (s = RouteEntry.TryReadOptional(ref reader, out RouteEntry? sender)) != DecodeStatus.Ok
            || (s = reader.ReadBinary(0, WireLimits.MaxPadding, out ReadOnlyMemory<byte> padding)) != DecodeStatus.Ok)
        {
            return s;
        }

        value = new Solicit(hash, sender, padding.Length);
        return DecodeStatus.Ok;
    }
}

/// <summary>
/// Join step 2 (DRT's ADVERTISE): the known node echoes the nonce hash and offers keys spread over the ring (empty
/// when busy). Body: [nonce hash (bin 32), keys (0..8)].
/// </summary>
/// <param name="NonceHash">The solicit's nonce hash, echoed.</param>
/// <param name="Keys">Keys the node knows, spread evenly over its tables (its own when it knows fewer).</param>
internal readonly record struct Advertise(ReadOnlyMemory<byte> NonceHash, WireList<WireKey> Keys) : IWireMessage<Advertise>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.Advertise;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(2);
        writer.Write(NonceHash.Span);
        Keys.Write(ref writer);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out Advertise value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(2)) != DecodeStatus.Ok
            || (s = reader.ReadBinary(WireLimits.NonceHashLength, WireLimits.NonceHashLength, out ReadOnlyMemory<byte> hash)) != DecodeStatus.Ok
            || (s = WireList<WireKey>.TryRead(ref reader, 0, WireLimits.MaxJoinKeys, out WireList<WireKey> keys)) != DecodeStatus.Ok)
        {
            return s;
        }

        value = new Advertise(hash, keys);
        return DecodeStatus.Ok;
    }
}

/// <summary>
/// Join step 3 (DRT's REQUEST): the joiner reveals the nonce, proving it receives at its address, and names the
/// advertised keys it wants. Answered by an <see cref="Ack"/>, then by a <see cref="Flood"/> with each key's entry.
/// Body: [nonce (bin 16), keys (0..8)].
/// </summary>
/// <param name="Nonce">The nonce whose hash the solicit carried (16 bytes).</param>
/// <param name="Keys">The advertised keys the joiner wants entries for.</param>
internal readonly record struct Request(ReadOnlyMemory<byte> Nonce, WireList<WireKey> Keys) : IWireMessage<Request>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.Request;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(2);
        writer.Write(Nonce.Span);
        Keys.Write(ref writer);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out Request value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(2)) != DecodeStatus.Ok
            || (s = reader.ReadBinary(WireLimits.NonceLength, WireLimits.NonceLength, out ReadOnlyMemory<byte> nonce)) != DecodeStatus.Ok
            || (s = WireList<WireKey>.TryRead(ref reader, 0, WireLimits.MaxJoinKeys, out WireList<WireKey> keys)) != DecodeStatus.Ok)
        {
            return s;
        }

        value = new Request(nonce, keys);
        return DecodeStatus.Ok;
    }
}

/// <summary>Flags of an <see cref="Ack"/>.</summary>
[Flags]
internal enum AckFlags : byte
{
    /// <summary>Accepted.</summary>
    None = 0,

    /// <summary>DRT's N: the key the acknowledged flood was addressed to is not registered here.</summary>
    NotMine = 0x01,
}

/// <summary>Acknowledges a <see cref="Request"/> or a <see cref="Flood"/>. Body: [flags].</summary>
/// <param name="Flags">What the receiver made of it.</param>
internal readonly record struct Ack(AckFlags Flags) : IWireMessage<Ack>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.Ack;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(1);
        writer.Write((byte)Flags);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out Ack value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(1)) != DecodeStatus.Ok || (s = reader.ReadByte(out byte flags)) != DecodeStatus.Ok)
        {
            return s;
        }

        value = new Ack((AckFlags)flags);
        return DecodeStatus.Ok;
    }
}
