namespace Drt.Overlay.Security;

/// <summary>
/// The domain tags that separate every hash and signature this library makes from every other use of the same key
/// (docs/security.md lists them). Each is ASCII and is written with a one-byte length in front, so no tag is a prefix
/// of another's encoding and no content can be mistaken for a tag.
/// </summary>
internal static class SecurityTags
{
    /// <summary>Key derivation: key = SHA-256(u16 len ‖ this ‖ u16 len ‖ public key ‖ classifier).</summary>
    public static ReadOnlySpan<byte> Key => "drt.overlay/key/v1"u8;

    /// <summary>What a record's Ed25519 signature covers: u8 len ‖ this ‖ SHA-256(canonical record).</summary>
    public static ReadOnlySpan<byte> Record => "drt.overlay/record/v1"u8;

    /// <summary>What a nonce proof covers, whether signed (Ed25519) or MACed (BLAKE2b under a pair key).</summary>
    public static ReadOnlySpan<byte> Nonce => "drt.overlay/nonce/v1"u8;

    /// <summary>The pair key schedule: the HKDF salt of a pair key (<see cref="PairKeys"/>) starts with it.</summary>
    public static ReadOnlySpan<byte> Pair => "drt.overlay/pair/v1"u8;

    /// <summary>What a membership credential's Ed25519 signature covers.</summary>
    public static ReadOnlySpan<byte> Credential => "drt.overlay/credential/v1"u8;

    /// <summary>The session key schedule (HKDF salt and info strings start with it).</summary>
    public static ReadOnlySpan<byte> Session => "drt.overlay/session/v1"u8;

    /// <summary>What a handshake's Ed25519 signature (identity over ephemeral key) covers.</summary>
    public static ReadOnlySpan<byte> Handshake => "drt.overlay/handshake/v1"u8;

    /// <summary>Writes u8 len ‖ <paramref name="tag"/> at the start of <paramref name="destination"/>; returns the bytes written.</summary>
    public static int WritePrefix(ReadOnlySpan<byte> tag, Span<byte> destination)
    {
        destination[0] = (byte)tag.Length;
        tag.CopyTo(destination[1..]);
        return 1 + tag.Length;
    }
}
