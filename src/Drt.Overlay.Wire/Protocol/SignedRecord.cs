using MessagePack;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>Flags of a <see cref="SignedRecord"/>.</summary>
[Flags]
internal enum RecordFlags : byte
{
    /// <summary>A live registration.</summary>
    None = 0,

    /// <summary>DRT_PAYLOAD_REVOKED: the owner unregistered the key; the record proves it.</summary>
    Revoked = 0x01,
}

/// <summary>
/// A registration as it travels (DRT's CPA plus payload): key, owner's public key, owner's exchange key, classifier,
/// endpoints, application data, sequence number, expiry, flags and signature. Body: [key, public key (bin 32) or nil,
/// exchange key (bin 32) or nil, classifier (bin ≤256), endpoints (1..20), app data (bin ≤5,120), sequence, expires
/// (Unix seconds, 0 = never), flags, signature (bin 64) or nil].
/// </summary>
/// <remarks>
/// In security mode None the public key, exchange key and signature are nil. The exchange key is the owner's X25519
/// public key: signed with the record, it lets a searcher check a MAC nonce proof (docs/security.md). What the signature covers is the security
/// provider's business (DESIGN §5); the codec only bounds the fields. Byte fields are slices of the receive
/// buffer: copy what must outlive the datagram.
/// </remarks>
internal readonly record struct SignedRecord(
    Key256 Key,
    ReadOnlyMemory<byte> PublicKey,
    ReadOnlyMemory<byte> ExchangeKey,
    ReadOnlyMemory<byte> Classifier,
    WireList<WireEndpoint> Endpoints,
    ReadOnlyMemory<byte> AppData,
    ulong Sequence,
    ulong ExpiresUnixSeconds,
    RecordFlags Flags,
    ReadOnlyMemory<byte> Signature) : IWireElement<SignedRecord>
{
    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(10);
        WireWriter.WriteKey(ref writer, Key);
        WireWriter.WriteOptionalBinary(ref writer, PublicKey);
        WireWriter.WriteOptionalBinary(ref writer, ExchangeKey);
        writer.Write(Classifier.Span);
        Endpoints.Write(ref writer);
        writer.Write(AppData.Span);
        writer.Write(Sequence);
        writer.Write(ExpiresUnixSeconds);
        writer.Write((byte)Flags);
        WireWriter.WriteOptionalBinary(ref writer, Signature);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out SignedRecord value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(10)) != DecodeStatus.Ok
            || (s = reader.ReadKey(out Key256 key)) != DecodeStatus.Ok
            || (s = reader.ReadOptionalFixedBinary(WireLimits.PublicKeyLength, out ReadOnlyMemory<byte> publicKey)) != DecodeStatus.Ok
            || (s = reader.ReadOptionalFixedBinary(WireLimits.ExchangeKeyLength, out ReadOnlyMemory<byte> exchangeKey)) != DecodeStatus.Ok
            || (s = reader.ReadBinary(0, WireLimits.MaxClassifier, out ReadOnlyMemory<byte> classifier)) != DecodeStatus.Ok
            || (s = WireList<WireEndpoint>.TryRead(ref reader, 1, WireLimits.MaxRecordEndpoints, out WireList<WireEndpoint> endpoints)) != DecodeStatus.Ok
            || (s = reader.ReadBinary(0, WireLimits.MaxAppData, out ReadOnlyMemory<byte> appData)) != DecodeStatus.Ok
            || (s = reader.ReadUInt64(ulong.MaxValue, out ulong sequence)) != DecodeStatus.Ok
            || (s = reader.ReadUInt64(ulong.MaxValue, out ulong expires)) != DecodeStatus.Ok
            || (s = reader.ReadByte(out byte flags)) != DecodeStatus.Ok
            || (s = reader.ReadOptionalFixedBinary(WireLimits.SignatureLength, out ReadOnlyMemory<byte> signature)) != DecodeStatus.Ok)
        {
            return s;
        }

        value = new SignedRecord(key, publicKey, exchangeKey, classifier, endpoints, appData, sequence, expires, (RecordFlags)flags, signature);
        return DecodeStatus.Ok;
    }

    /// <summary>Writes an optional record: nil when <paramref name="record"/> is null.</summary>
    public static void WriteOptional(ref MessagePackWriter writer, in SignedRecord? record)
    {
        if (record is { } value)
        {
            value.Write(ref writer);
        }
        else
        {
            writer.WriteNil();
        }
    }

    /// <summary>Reads an optional record (nil → null).</summary>
    public static DecodeStatus TryReadOptional(ref WireReader reader, out SignedRecord? value)
    {
        value = null;
        if (reader.NextIsNil)
        {
            return reader.ReadNil();
        }

        DecodeStatus status = TryRead(ref reader, out SignedRecord record);
        if (status == DecodeStatus.Ok)
        {
            value = record;
        }

        return status;
    }
}
