using Drt.Overlay.Wire;

namespace Drt.Overlay.Security;

/// <summary>
/// What an instance asks of its security (DRT's security provider): whether a key may be published by an identity,
/// signatures over the bytes the library builds for records and nonce proofs, membership credentials, and per-peer
/// sessions that protect datagrams. Built-ins: <see cref="NullSecurityProvider"/> and
/// <see cref="DerivedKeySecurityProvider"/>.
/// </summary>
/// <remarks>
/// <para>
/// The library builds every signed message itself (domain-separated, docs/security.md) and caches record verifications,
/// so a provider signs and verifies opaque bytes and is called once per record version, never per datagram.
/// </para>
/// <para>
/// An instance calls its provider from one thread (the engine's). Hostile input must give false or a status, never an
/// exception: a throw from <see cref="Verify"/> or <see cref="CheckCredential"/> is treated as a bug.
/// </para>
/// </remarks>
public interface ISecurityProvider
{
    /// <summary>The mode this provider implements; every node of a network must use the same one.</summary>
    DrtSecurityMode Mode { get; }

    /// <summary>This instance's public key (empty when the mode has no identities).</summary>
    ReadOnlyMemory<byte> PublicKey { get; }

    /// <summary>Bytes <see cref="Sign"/> writes (0 when nothing is signed).</summary>
    int SignatureLength { get; }

    /// <summary>The credential this instance presents at first contact (empty when membership is not required).</summary>
    ReadOnlyMemory<byte> LocalCredential { get; }

    /// <summary>
    /// Whether the owner of <paramref name="publicKey"/> may publish <paramref name="key"/> under
    /// <paramref name="classifier"/> (UTF-8 bytes). Called for local registrations (with <see cref="PublicKey"/>) and
    /// for every record received.
    /// </summary>
    bool IsKeyAllowed(Key256 key, ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> classifier);

    /// <summary>Signs <paramref name="message"/> with this instance's private key into the first <see cref="SignatureLength"/> bytes of <paramref name="signature"/>.</summary>
    void Sign(ReadOnlySpan<byte> message, Span<byte> signature);

    /// <summary>Whether <paramref name="signature"/> is the signature of <paramref name="publicKey"/>'s owner over <paramref name="message"/>.</summary>
    bool Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature);

    /// <summary>
    /// Checks the credential a peer presented with <paramref name="publicKey"/> at <paramref name="now"/>; modes without
    /// membership accept everything.
    /// </summary>
    DrtCredentialStatus CheckCredential(ReadOnlySpan<byte> credential, ReadOnlySpan<byte> publicKey, DateTimeOffset now);

    /// <summary>
    /// Starts a key agreement with a peer for datagram protection, or returns null when the mode protects no datagrams
    /// (None, Resolve). Each side sends <see cref="ISessionHandshake.LocalEphemeralKey"/> (signed by its identity) and
    /// completes with the other's.
    /// </summary>
    ISessionHandshake? BeginSession();
}
