using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using NSec.Cryptography;

namespace Drt.Overlay.Security;

/// <summary>Why a membership credential was accepted or refused.</summary>
public enum DrtCredentialStatus
{
    /// <summary>Signed by the expected root, for the expected network and member, and valid now.</summary>
    Valid = 0,

    /// <summary>Not a credential: truncated, wrong magic or version, bad lengths or label.</summary>
    Malformed = 1,

    /// <summary>Issued for another network id.</summary>
    WrongNetwork = 2,

    /// <summary>Issued by another root key.</summary>
    WrongRoot = 3,

    /// <summary>Issued to another public key than the one presenting it.</summary>
    WrongMember = 4,

    /// <summary>The time is before its not-before.</summary>
    NotYetValid = 5,

    /// <summary>The time is at or after its not-after.</summary>
    Expired = 6,

    /// <summary>The root's signature does not match the content (tampered or forged).</summary>
    BadSignature = 7,
}

/// <summary>
/// A membership credential: the network's root key vouches that a member public key belongs to the network between
/// two times. Compact fixed-layout binary (<see cref="ToBytes"/>), and PEM-like text for files
/// (<see cref="ToText"/>, "-----BEGIN DRT CREDENTIAL-----").
/// </summary>
/// <remarks>
/// <para>
/// Binary layout, integers big-endian: "DRTC" (4) · version 1 (1) · network id (4) · root public key (32) · member
/// public key (32) · not-before, Unix seconds (8, signed) · not-after (8, signed) · label length (1) · label, UTF-8
/// (0..64) · Ed25519 signature (64). The signature covers u8 len ‖ "drt.overlay/credential/v1" ‖ every byte before
/// the signature. Valid from not-before (inclusive) to not-after (exclusive).
/// </para>
/// <para>Parsing and checking never throw on hostile bytes: they return false or a <see cref="DrtCredentialStatus"/>.</para>
/// </remarks>
public sealed class DrtCredential
{
    /// <summary>Longest label, in UTF-8 bytes.</summary>
    public const int MaxLabelLength = 64;

    private const int Version = 1;
    private const int FixedLength = 4 + 1 + 4 + 32 + 32 + 8 + 8 + 1; // everything before the label
    private const int SignatureLength = 64;
    private const string PemLabel = "DRT CREDENTIAL";
    private static ReadOnlySpan<byte> Magic => "DRTC"u8;

    private readonly byte[] _encoded;

    private DrtCredential(byte[] encoded, uint networkId, DateTimeOffset notBefore, DateTimeOffset notAfter, string label)
    {
        _encoded = encoded;
        NetworkId = networkId;
        NotBefore = notBefore;
        NotAfter = notAfter;
        Label = label;
    }

    /// <summary>The network the member belongs to.</summary>
    public uint NetworkId { get; }

    /// <summary>The public key of the root that signed it.</summary>
    public ReadOnlyMemory<byte> RootPublicKey => _encoded.AsMemory(9, 32);

    /// <summary>The member's Ed25519 public key.</summary>
    public ReadOnlyMemory<byte> MemberPublicKey => _encoded.AsMemory(41, 32);

    /// <summary>The first second it is valid (whole seconds).</summary>
    public DateTimeOffset NotBefore { get; }

    /// <summary>The first second it is no longer valid (whole seconds).</summary>
    public DateTimeOffset NotAfter { get; }

    /// <summary>A short human label (a host or member name; 0..64 bytes of UTF-8).</summary>
    public string Label { get; }

    /// <summary>
    /// Issues a credential: <paramref name="root"/> signs that <paramref name="memberPublicKey"/> is a member of
    /// network <paramref name="networkId"/> from <paramref name="notBefore"/> until <paramref name="notAfter"/>
    /// (both truncated to whole seconds).
    /// </summary>
    /// <exception cref="DrtException">InvalidArgument: the member key is not 32 bytes, the interval is empty, or the label is too long.</exception>
    public static DrtCredential Issue(DrtIdentity root, ReadOnlySpan<byte> memberPublicKey, DateTimeOffset notBefore, DateTimeOffset notAfter, string label, uint networkId)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(label);
        if (memberPublicKey.Length != DrtIdentity.PublicKeyLength)
        {
            throw new DrtException(DrtError.InvalidArgument, $"A member public key is {DrtIdentity.PublicKeyLength} bytes (DrtIdentity.PublicKey); got {memberPublicKey.Length}.");
        }

        long from = notBefore.ToUnixTimeSeconds();
        long until = notAfter.ToUnixTimeSeconds();
        if (until <= from)
        {
            throw new DrtException(DrtError.InvalidArgument, $"A credential's not-after ({notAfter:O}) must be at least a second after its not-before ({notBefore:O}).");
        }

        int labelLength = Encoding.UTF8.GetByteCount(label);
        if (labelLength > MaxLabelLength)
        {
            throw new DrtException(DrtError.InvalidArgument, $"A credential label is at most {MaxLabelLength} bytes of UTF-8; got {labelLength}.");
        }

        byte[] encoded = new byte[FixedLength + labelLength + SignatureLength];
        Span<byte> span = encoded;
        Magic.CopyTo(span);
        span[4] = Version;
        BinaryPrimitives.WriteUInt32BigEndian(span[5..], networkId);
        root.PublicKey.Span.CopyTo(span[9..]);
        memberPublicKey.CopyTo(span[41..]);
        BinaryPrimitives.WriteInt64BigEndian(span[73..], from);
        BinaryPrimitives.WriteInt64BigEndian(span[81..], until);
        span[89] = (byte)labelLength;
        Encoding.UTF8.GetBytes(label, span[FixedLength..]);

        int signedLength = FixedLength + labelLength;
        byte[] message = SignedMessage(span[..signedLength]);
        root.Sign(message, span[signedLength..]);
        return new DrtCredential(encoded, networkId, DateTimeOffset.FromUnixTimeSeconds(from), DateTimeOffset.FromUnixTimeSeconds(until), label);
    }

    /// <summary>Parses the binary form; false for anything that is not a well-formed credential (the signature is not checked).</summary>
    public static bool TryParse(ReadOnlySpan<byte> encoded, [NotNullWhen(true)] out DrtCredential? credential)
    {
        credential = null;
        if (!TryReadFields(encoded, out uint networkId, out long from, out long until, out int labelLength))
        {
            return false;
        }

        string label;
        try
        {
            label = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(encoded.Slice(FixedLength, labelLength));
        }
        catch (DecoderFallbackException)
        {
            return false;
        }

        credential = new DrtCredential(encoded.ToArray(), networkId, DateTimeOffset.FromUnixTimeSeconds(from), DateTimeOffset.FromUnixTimeSeconds(until), label);
        return true;
    }

    /// <summary>Parses the text form written by <see cref="ToText"/>; false for anything else.</summary>
    public static bool TryParseText(ReadOnlySpan<char> text, [NotNullWhen(true)] out DrtCredential? credential)
    {
        credential = null;
        if (!PemEncoding.TryFind(text, out PemFields fields) || !text[fields.Label].SequenceEqual(PemLabel) || fields.DecodedDataLength > 512)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[fields.DecodedDataLength];
        return Convert.TryFromBase64Chars(text[fields.Base64Data], bytes, out int written) && TryParse(bytes[..written], out credential);
    }

    /// <summary>The compact binary form (a copy).</summary>
    public byte[] ToBytes() => (byte[])_encoded.Clone();

    /// <summary>The text form for files and command lines: "-----BEGIN DRT CREDENTIAL-----", base64, "-----END DRT CREDENTIAL-----".</summary>
    public string ToText() => new(PemEncoding.Write(PemLabel, _encoded));

    /// <summary>
    /// Checks the credential for <paramref name="networkId"/> against <paramref name="rootPublicKey"/> at
    /// <paramref name="now"/>; cheap checks (network, root, time) come before the signature.
    /// </summary>
    public DrtCredentialStatus Check(ReadOnlySpan<byte> rootPublicKey, uint networkId, DateTimeOffset now) => Check(_encoded, rootPublicKey, networkId, now, default);

    /// <summary>
    /// Checks an encoded credential presented by <paramref name="memberPublicKey"/> (empty: any member) without
    /// keeping it; never throws. Without <paramref name="verifySignature"/> only the cheap checks run (layout, network,
    /// root, member, validity): Valid then means "plausible", which is what a responder asks before it spends a cookie.
    /// </summary>
    internal static DrtCredentialStatus Check(ReadOnlySpan<byte> encoded, ReadOnlySpan<byte> rootPublicKey, uint networkId, DateTimeOffset now, ReadOnlySpan<byte> memberPublicKey, bool verifySignature = true)
    {
        if (!TryReadFields(encoded, out uint credentialNetwork, out long from, out long until, out int labelLength)
            || !IsValidUtf8(encoded.Slice(FixedLength, labelLength)))
        {
            return DrtCredentialStatus.Malformed;
        }

        if (credentialNetwork != networkId)
        {
            return DrtCredentialStatus.WrongNetwork;
        }

        if (!encoded.Slice(9, 32).SequenceEqual(rootPublicKey))
        {
            return DrtCredentialStatus.WrongRoot;
        }

        if (!memberPublicKey.IsEmpty && !encoded.Slice(41, 32).SequenceEqual(memberPublicKey))
        {
            return DrtCredentialStatus.WrongMember;
        }

        long seconds = now.ToUnixTimeSeconds();
        if (seconds < from)
        {
            return DrtCredentialStatus.NotYetValid;
        }

        if (seconds >= until)
        {
            return DrtCredentialStatus.Expired;
        }

        if (!verifySignature)
        {
            return DrtCredentialStatus.Valid;
        }

        int signedLength = FixedLength + labelLength;
        if (!NSec.Cryptography.PublicKey.TryImport(SignatureAlgorithm.Ed25519, rootPublicKey, KeyBlobFormat.RawPublicKey, out NSec.Cryptography.PublicKey? root) || root is null)
        {
            return DrtCredentialStatus.WrongRoot;
        }

        return SignatureAlgorithm.Ed25519.Verify(root, SignedMessage(encoded[..signedLength]), encoded.Slice(signedLength, SignatureLength))
            ? DrtCredentialStatus.Valid
            : DrtCredentialStatus.BadSignature;
    }

    private static bool TryReadFields(ReadOnlySpan<byte> encoded, out uint networkId, out long from, out long until, out int labelLength)
    {
        networkId = 0;
        from = until = 0;
        labelLength = 0;
        if (encoded.Length < FixedLength + SignatureLength || !encoded[..4].SequenceEqual(Magic) || encoded[4] != Version)
        {
            return false;
        }

        networkId = BinaryPrimitives.ReadUInt32BigEndian(encoded[5..]);
        from = BinaryPrimitives.ReadInt64BigEndian(encoded[73..]);
        until = BinaryPrimitives.ReadInt64BigEndian(encoded[81..]);
        labelLength = encoded[89];

        // Exactly one signature after the label, and times DateTimeOffset can represent.
        return labelLength <= MaxLabelLength
            && encoded.Length == FixedLength + labelLength + SignatureLength
            && from >= MinSeconds && until <= MaxSeconds && from < until;
    }

    private const long MinSeconds = -62_135_596_800; // 0001-01-01
    private const long MaxSeconds = 253_402_300_799; // 9999-12-31T23:59:59

    private static bool IsValidUtf8(ReadOnlySpan<byte> bytes) => System.Text.Unicode.Utf8.IsValid(bytes);

    private static byte[] SignedMessage(ReadOnlySpan<byte> content)
    {
        // Credentials are checked at first contact only (rate-limited, one Ed25519 verify each): a small array is fine.
        byte[] message = new byte[1 + SecurityTags.Credential.Length + content.Length];
        int offset = SecurityTags.WritePrefix(SecurityTags.Credential, message);
        content.CopyTo(message.AsSpan(offset));
        return message;
    }
}
