using MessagePack;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>
/// Session handshake step 1 (Membership and Confidential modes), sent in clear by the initiator to a peer it has no
/// session with. Body: [credential (bin ≤512), public key (bin 32), ephemeral key (bin 32), proof (bin 64),
/// padding (bin ≤64), cookie (bin 16) or nil].
/// </summary>
/// <remarks>
/// The proof is the initiator's Ed25519 signature over its ephemeral key (the handshake proof message of
/// docs/security.md, peer ephemeral zeros). The padding makes the hello at least as large as the reply it asks for: a
/// responder never answers with more bytes than the hello brought (no amplification from a forged source). The cookie
/// is the one a <see cref="HelloCookie"/> gave for this address: a responder that does not know the address yet
/// answers a hello without a valid cookie with a cookie only, keeping nothing.
/// </remarks>
/// <param name="Credential">The initiator's membership credential, as its provider encodes it.</param>
/// <param name="PublicKey">The initiator's Ed25519 identity public key.</param>
/// <param name="EphemeralKey">The initiator's X25519 ephemeral public key.</param>
/// <param name="Proof">The initiator's signature over its ephemeral key.</param>
/// <param name="PaddingLength">Zero bytes appended so the reply fits within the hello's size.</param>
/// <param name="Cookie">The responder's cookie for the initiator's address, once it has given one; else empty.</param>
internal readonly record struct Hello(ReadOnlyMemory<byte> Credential, ReadOnlyMemory<byte> PublicKey, ReadOnlyMemory<byte> EphemeralKey, ReadOnlyMemory<byte> Proof, int PaddingLength, ReadOnlyMemory<byte> Cookie = default)
    : IWireMessage<Hello>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.Hello;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(6);
        writer.Write(Credential.Span);
        writer.Write(PublicKey.Span);
        writer.Write(EphemeralKey.Span);
        writer.Write(Proof.Span);
        int padding = Math.Clamp(PaddingLength, 0, WireLimits.MaxHelloPadding);
        writer.WriteBinHeader(padding);
        Span<byte> zeros = writer.GetSpan(padding)[..padding];
        zeros.Clear();
        writer.Advance(padding);
        WireWriter.WriteOptionalBinary(ref writer, Cookie);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out Hello value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(6)) != DecodeStatus.Ok
            || (s = HelloFields.TryRead(ref reader, out ReadOnlyMemory<byte> credential, out ReadOnlyMemory<byte> publicKey, out ReadOnlyMemory<byte> ephemeral, out ReadOnlyMemory<byte> proof)) != DecodeStatus.Ok
            || (s = reader.ReadBinary(0, WireLimits.MaxHelloPadding, out ReadOnlyMemory<byte> padding)) != DecodeStatus.Ok
            || (s = reader.ReadOptionalFixedBinary(WireLimits.CookieLength, out ReadOnlyMemory<byte> cookie)) != DecodeStatus.Ok)
        {
            return s;
        }

        value = new Hello(credential, publicKey, ephemeral, proof, padding.Length, cookie);
        return DecodeStatus.Ok;
    }
}

/// <summary>
/// Session handshake step 2: the responder's answer to a <see cref="Hello"/>, under the hello's message id. Body:
/// [credential (bin ≤512), public key (bin 32), ephemeral key (bin 32), proof (bin 64)].
/// </summary>
/// <remarks>
/// The proof signs the responder's ephemeral key and the initiator's (role 1 in the proof message), so a recorded
/// reply cannot complete another initiator's handshake.
/// </remarks>
/// <param name="Credential">The responder's membership credential.</param>
/// <param name="PublicKey">The responder's Ed25519 identity public key.</param>
/// <param name="EphemeralKey">The responder's X25519 ephemeral public key.</param>
/// <param name="Proof">The responder's signature over both ephemeral keys.</param>
internal readonly record struct HelloReply(ReadOnlyMemory<byte> Credential, ReadOnlyMemory<byte> PublicKey, ReadOnlyMemory<byte> EphemeralKey, ReadOnlyMemory<byte> Proof)
    : IWireMessage<HelloReply>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.HelloReply;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(4);
        writer.Write(Credential.Span);
        writer.Write(PublicKey.Span);
        writer.Write(EphemeralKey.Span);
        writer.Write(Proof.Span);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out HelloReply value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(4)) != DecodeStatus.Ok
            || (s = HelloFields.TryRead(ref reader, out ReadOnlyMemory<byte> credential, out ReadOnlyMemory<byte> publicKey, out ReadOnlyMemory<byte> ephemeral, out ReadOnlyMemory<byte> proof)) != DecodeStatus.Ok)
        {
            return s;
        }

        value = new HelloReply(credential, publicKey, ephemeral, proof);
        return DecodeStatus.Ok;
    }
}

/// <summary>
/// A responder's answer to a <see cref="Hello"/> from an address that has not proved it receives there, under the
/// hello's message id (DTLS's HelloVerifyRequest, WireGuard's cookie reply). Body: [cookie (bin 16)].
/// </summary>
/// <remarks>
/// The cookie is a MAC of the address and a time slot under the responder's secret: the initiator sends its hello
/// again with it, and only then does the responder check credentials, agree keys and keep a session. So a hello from a
/// forged source costs the responder one MAC and no state, and buys the forged address fewer bytes than it carried.
/// </remarks>
/// <param name="Cookie">The cookie to send back in the hello.</param>
internal readonly record struct HelloCookie(ReadOnlyMemory<byte> Cookie) : IWireMessage<HelloCookie>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.HelloCookie;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(1);
        writer.Write(Cookie.Span);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out HelloCookie value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(1)) != DecodeStatus.Ok
            || (s = reader.ReadBinary(WireLimits.CookieLength, WireLimits.CookieLength, out ReadOnlyMemory<byte> cookie)) != DecodeStatus.Ok)
        {
            return s;
        }

        value = new HelloCookie(cookie);
        return DecodeStatus.Ok;
    }
}

/// <summary>The four fields <see cref="Hello"/> and <see cref="HelloReply"/> share, each length checked before use.</summary>
internal static class HelloFields
{
    /// <summary>Reads credential (1..512), public key (32), ephemeral key (32) and proof (64).</summary>
    public static DecodeStatus TryRead(ref WireReader reader, out ReadOnlyMemory<byte> credential, out ReadOnlyMemory<byte> publicKey, out ReadOnlyMemory<byte> ephemeral, out ReadOnlyMemory<byte> proof)
    {
        publicKey = default;
        ephemeral = default;
        proof = default;
        DecodeStatus s;
        if ((s = reader.ReadBinary(1, WireLimits.MaxCredential, out credential)) != DecodeStatus.Ok
            || (s = reader.ReadBinary(WireLimits.PublicKeyLength, WireLimits.PublicKeyLength, out publicKey)) != DecodeStatus.Ok
            || (s = reader.ReadBinary(WireLimits.EphemeralKeyLength, WireLimits.EphemeralKeyLength, out ephemeral)) != DecodeStatus.Ok)
        {
            return s;
        }

        return reader.ReadBinary(WireLimits.SignatureLength, WireLimits.SignatureLength, out proof);
    }
}
