using MessagePack;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>Flags of a <see cref="Flood"/>.</summary>
[Flags]
internal enum FloodFlags : byte
{
    /// <summary>An announcement that wants an <see cref="Ack"/>.</summary>
    None = 0,

    /// <summary>DRT's D: no acknowledgement wanted (join replies).</summary>
    NoAck = 0x01,

    /// <summary>The entry's key was unregistered: remove it (the record, when present, is the signed revocation).</summary>
    Revoke = 0x02,
}

/// <summary>
/// Spreads a key's arrival or departure through the leaf sets around it (DRT's FLOOD). Each receiver that takes the
/// entry into a leaf set forwards it to its neighbours not yet on the already-flooded list, so the wave stops where
/// the key no longer falls into leaf sets. Body: [flags, validate key, entry, record or nil, already flooded (0..22)].
/// </summary>
/// <param name="Flags">D / revoke flags.</param>
/// <param name="ValidateKey">The receiver's key this flood is addressed to (its ack's N flag says it is gone).</param>
/// <param name="Entry">The key announced or revoked, with its endpoint.</param>
/// <param name="Record">The signed record or revocation, in secure modes.</param>
/// <param name="AlreadyFlooded">Endpoints that already have this flood.</param>
internal readonly record struct Flood(
    FloodFlags Flags,
    Key256 ValidateKey,
    RouteEntry Entry,
    SignedRecord? Record,
    WireList<WireEndpoint> AlreadyFlooded) : IWireMessage<Flood>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.Flood;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(5);
        writer.Write((byte)Flags);
        WireWriter.WriteKey(ref writer, ValidateKey);
        Entry.Write(ref writer);
        SignedRecord.WriteOptional(ref writer, Record);
        AlreadyFlooded.Write(ref writer);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out Flood value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(5)) != DecodeStatus.Ok
            || (s = reader.ReadByte(out byte flags)) != DecodeStatus.Ok
            || (s = reader.ReadKey(out Key256 validate)) != DecodeStatus.Ok
            || (s = RouteEntry.TryRead(ref reader, out RouteEntry entry)) != DecodeStatus.Ok
            || (s = SignedRecord.TryReadOptional(ref reader, out SignedRecord? record)) != DecodeStatus.Ok
            || (s = WireList<WireEndpoint>.TryRead(ref reader, 0, WireLimits.MaxPath, out WireList<WireEndpoint> flooded)) != DecodeStatus.Ok)
        {
            return s;
        }

        value = new Flood((FloodFlags)flags, validate, entry, record, flooded);
        return DecodeStatus.Ok;
    }
}
