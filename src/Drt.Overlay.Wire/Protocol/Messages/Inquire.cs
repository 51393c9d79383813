using MessagePack;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>Flags of an <see cref="Inquire"/> (DRT's A, X, C).</summary>
[Flags]
internal enum InquireFlags : byte
{
    /// <summary>Liveness only: "do you still register this key?"</summary>
    None = 0,

    /// <summary>DRT's A: send the signed record, bound to my nonce.</summary>
    WantRecord = 0x01,

    /// <summary>DRT's X: include the application data in the record.</summary>
    WantAppData = 0x02,

    /// <summary>DRT's C: include the owner's credential.</summary>
    WantCredential = 0x04,
}

/// <summary>
/// Asks a node to prove it owns a key (DRT's INQUIRE): the final step of a search, and the return-routability check
/// before an entry is admitted to a table. Body: [flags, validate key, nonce (bin 16), searcher exchange key (bin 32)
/// or nil].
/// </summary>
/// <param name="Flags">What to send back.</param>
/// <param name="ValidateKey">The key the receiver is believed to register.</param>
/// <param name="Nonce">A fresh 16-byte nonce the answer must echo (and, in secure modes, prove).</param>
/// <param name="SearcherExchangeKey">
/// In secure modes the asker's X25519 exchange key, which the owner's nonce proof binds, so that an answer obtained by
/// one searcher cannot be relayed to another, and under which the owner can prove with a MAC instead of a signature;
/// empty (nil) in mode None.
/// </param>
internal readonly record struct Inquire(InquireFlags Flags, Key256 ValidateKey, ReadOnlyMemory<byte> Nonce, ReadOnlyMemory<byte> SearcherExchangeKey = default) : IWireMessage<Inquire>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.Inquire;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(4);
        writer.Write((byte)Flags);
        WireWriter.WriteKey(ref writer, ValidateKey);
        writer.Write(Nonce.Span);
        WireWriter.WriteOptionalBinary(ref writer, SearcherExchangeKey);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out Inquire value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(4)) != DecodeStatus.Ok
            || (s = reader.ReadByte(out byte flags)) != DecodeStatus.Ok
            || (s = reader.ReadKey(out Key256 key)) != DecodeStatus.Ok
            || (s = reader.ReadBinary(WireLimits.NonceLength, WireLimits.NonceLength, out ReadOnlyMemory<byte> nonce)) != DecodeStatus.Ok
            || (s = reader.ReadOptionalFixedBinary(WireLimits.ExchangeKeyLength, out ReadOnlyMemory<byte> searcher)) != DecodeStatus.Ok)
        {
            return s;
        }

        value = new Inquire((InquireFlags)flags, key, nonce, searcher);
        return DecodeStatus.Ok;
    }
}

/// <summary>Flags of an <see cref="Authority"/>.</summary>
[Flags]
internal enum AuthorityFlags : byte
{
    /// <summary>The key is registered here.</summary>
    None = 0,

    /// <summary>DRT's N: the key is not registered here.</summary>
    NotMine = 0x01,

    /// <summary>DRT's B: too busy to answer.</summary>
    Busy = 0x02,

    /// <summary>
    /// The proof is a 16-byte MAC under the pair key of the owner's and the searcher's exchange keys, not a 64-byte
    /// signature (docs/security.md).
    /// </summary>
    MacProof = 0x04,
}

/// <summary>
/// Answer to an <see cref="Inquire"/> (DRT's AUTHORITY): the echoed nonce, the record when asked for, and in secure
/// modes the owner's proof over the nonce and record. Body: [flags, key, nonce (bin 16), record or nil, proof (bin 16
/// with <see cref="AuthorityFlags.MacProof"/>, else bin 64) or nil]. With 5 KB of application data it exceeds one
/// datagram and travels as fragments.
/// </summary>
/// <param name="Flags">N / B / MAC flags.</param>
/// <param name="Key">The key inquired about.</param>
/// <param name="Nonce">The inquire's nonce, echoed.</param>
/// <param name="Record">The registration, when asked for and owned.</param>
/// <param name="Proof">
/// The owner's proof binding the nonce to the record (secure modes): a MAC under the pair key, or a signature; else
/// empty.
/// </param>
internal readonly record struct Authority(
    AuthorityFlags Flags,
    Key256 Key,
    ReadOnlyMemory<byte> Nonce,
    SignedRecord? Record,
    ReadOnlyMemory<byte> Proof) : IWireMessage<Authority>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.Authority;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(5);
        writer.Write((byte)Flags);
        WireWriter.WriteKey(ref writer, Key);
        writer.Write(Nonce.Span);
        SignedRecord.WriteOptional(ref writer, Record);
        WireWriter.WriteOptionalBinary(ref writer, Proof);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out Authority value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(5)) != DecodeStatus.Ok
            || (s = reader.ReadByte(out byte flags)) != DecodeStatus.Ok
            || (s = reader.ReadKey(out Key256 key)) != DecodeStatus.Ok
            || (s = reader.ReadBinary(WireLimits.NonceLength, WireLimits.NonceLength, out ReadOnlyMemory<byte> nonce)) != DecodeStatus.Ok
            || (s = SignedRecord.TryReadOptional(ref reader, out SignedRecord? record)) != DecodeStatus.Ok
            || (s = ReadProof((AuthorityFlags)flags, ref reader, out ReadOnlyMemory<byte> proof)) != DecodeStatus.Ok)
        {
            return s;
        }

        value = new Authority((AuthorityFlags)flags, key, nonce, record, proof);
        return DecodeStatus.Ok;
    }

    /// <summary>A proof is nil, or exactly as long as its kind: a MAC with the MAC flag, a signature without.</summary>
    private static DecodeStatus ReadProof(AuthorityFlags flags, ref WireReader reader, out ReadOnlyMemory<byte> proof)
        => reader.ReadOptionalFixedBinary((flags & AuthorityFlags.MacProof) != 0 ? WireLimits.MacProofLength : WireLimits.SignatureLength, out proof);
}
