using System.Buffers.Binary;
using CryptographicOperations = System.Security.Cryptography.CryptographicOperations;
using NSec.Cryptography;

namespace Drt.Overlay.Security;

/// <summary>
/// One side of the session key agreement (<see cref="ISessionHandshake"/>): an ephemeral X25519 key pair, then
/// HKDF-SHA256 into per-direction ChaCha20-Poly1305 keys.
/// </summary>
/// <remarks>
/// Key schedule (docs/security.md): shared = X25519(own ephemeral, peer ephemeral);
/// salt = SHA-256(u8 len ‖ "drt.overlay/session/v1" ‖ network id (u32) ‖ mode (u8) ‖ initiator ephemeral (32) ‖
/// responder ephemeral (32) ‖ u8 len ‖ initiator identity ‖ u8 len ‖ responder identity);
/// PRK = HKDF-Extract(salt, shared); key(direction, epoch) = HKDF-Expand(PRK, "drt.overlay/session/v1" ‖ " i2r" or
/// " r2i" ‖ epoch (u32), 32); session id = first 8 bytes (big-endian) of HKDF-Expand(PRK, "drt.overlay/session/v1 id", 8).
/// The transcript in the salt ties the keys to both identities, the network and the mode. The ephemeral keys are
/// authenticated by the caller: each side signs its ephemeral key with its identity in the first-contact messages
/// (<see cref="WriteProofMessage"/>), next to its credential.
/// </remarks>
internal sealed class SessionHandshake : ISessionHandshake
{
    private const int KeyLength = 32;

    private readonly DrtSecurityMode _mode;
    private readonly uint _networkId;
    private readonly ReadOnlyMemory<byte> _localPublicKey;
    private readonly byte[] _localEphemeral;
    private Key? _ephemeral;

    internal SessionHandshake(DrtSecurityMode mode, uint networkId, ReadOnlyMemory<byte> localPublicKey)
    {
        _mode = mode;
        _networkId = networkId;
        _localPublicKey = localPublicKey;
        _ephemeral = Key.Create(KeyAgreementAlgorithm.X25519);
        _localEphemeral = _ephemeral.PublicKey.Export(KeyBlobFormat.RawPublicKey);
    }

    /// <inheritdoc/>
    public ReadOnlySpan<byte> LocalEphemeralKey => _localEphemeral;

    /// <inheritdoc/>
    public ISecureSession? Complete(ReadOnlySpan<byte> remoteEphemeralKey, ReadOnlySpan<byte> remotePublicKey, bool isInitiator)
    {
        Key ephemeral = _ephemeral ?? throw new DrtException(DrtError.InvalidOperation, "A handshake completes once; begin a new one with ISecurityProvider.BeginSession.");
        _ephemeral = null;
        using (ephemeral)
        {
            if (remotePublicKey.Length > 255
                || !NSec.Cryptography.PublicKey.TryImport(KeyAgreementAlgorithm.X25519, remoteEphemeralKey, KeyBlobFormat.RawPublicKey, out NSec.Cryptography.PublicKey? remote)
                || remote is null)
            {
                return null;
            }

            // Null for a low-order peer key (an all-zero shared secret): refuse rather than derive predictable keys.
            using SharedSecret? shared = KeyAgreementAlgorithm.X25519.Agree(ephemeral, remote);
            if (shared is null)
            {
                return null;
            }

            ReadOnlySpan<byte> initiatorEphemeral = isInitiator ? _localEphemeral : remoteEphemeralKey;
            ReadOnlySpan<byte> responderEphemeral = isInitiator ? remoteEphemeralKey : _localEphemeral;
            ReadOnlySpan<byte> initiatorIdentity = isInitiator ? _localPublicKey.Span : remotePublicKey;
            ReadOnlySpan<byte> responderIdentity = isInitiator ? remotePublicKey : _localPublicKey.Span;
            Span<byte> salt = stackalloc byte[32];
            ComputeSalt(_networkId, _mode, initiatorEphemeral, responderEphemeral, initiatorIdentity, responderIdentity, salt);

            byte[] prk = new byte[KeyDerivationAlgorithm.HkdfSha256.PseudorandomKeySize];
            KeyDerivationAlgorithm.HkdfSha256.Extract(shared, salt, prk);
            Span<byte> id = stackalloc byte[8];
            Span<byte> info = stackalloc byte[SecurityTags.Session.Length + 3];
            SecurityTags.Session.CopyTo(info);
            " id"u8.CopyTo(info[SecurityTags.Session.Length..]);
            KeyDerivationAlgorithm.HkdfSha256.Expand(prk, info, id);
            return new SecureSession(_mode == DrtSecurityMode.Confidential, isInitiator, prk, BinaryPrimitives.ReadUInt64BigEndian(id));
        }
    }

    /// <summary>
    /// The message a side signs with its identity to authenticate its ephemeral key: u8 len ‖ "drt.overlay/handshake/v1" ‖
    /// network id (u32) ‖ role (0 initiator, 1 responder) ‖ own ephemeral (32) ‖ peer ephemeral (32, zeros for the
    /// initiator's first message). The responder's signature covers the initiator's ephemeral, so it cannot be replayed
    /// to another initiator. Returns the length written (at most 70 + 32 bytes).
    /// </summary>
    internal static int WriteProofMessage(uint networkId, bool isInitiator, ReadOnlySpan<byte> ownEphemeral, ReadOnlySpan<byte> peerEphemeral, Span<byte> destination)
    {
        int offset = SecurityTags.WritePrefix(SecurityTags.Handshake, destination);
        BinaryPrimitives.WriteUInt32BigEndian(destination[offset..], networkId);
        offset += 4;
        destination[offset++] = isInitiator ? (byte)0 : (byte)1;
        ownEphemeral[..KeyLength].CopyTo(destination[offset..]);
        offset += KeyLength;
        Span<byte> peer = destination.Slice(offset, KeyLength);
        peer.Clear();
        peerEphemeral[..Math.Min(peerEphemeral.Length, KeyLength)].CopyTo(peer);
        return offset + KeyLength;
    }

    /// <summary>The ChaCha20-Poly1305 key of one direction and epoch from the pseudorandom key.</summary>
    internal static Key DeriveDirectionKey(ReadOnlySpan<byte> pseudorandomKey, bool initiatorToResponder, uint epoch)
    {
        Span<byte> info = stackalloc byte[SecurityTags.Session.Length + 4 + 4];
        SecurityTags.Session.CopyTo(info);
        (initiatorToResponder ? " i2r"u8 : " r2i"u8).CopyTo(info[SecurityTags.Session.Length..]);
        BinaryPrimitives.WriteUInt32BigEndian(info[(SecurityTags.Session.Length + 4)..], epoch);
        Span<byte> keyBytes = stackalloc byte[KeyLength];
        try
        {
            KeyDerivationAlgorithm.HkdfSha256.Expand(pseudorandomKey, info, keyBytes);
            return Key.Import(AeadAlgorithm.ChaCha20Poly1305, keyBytes, KeyBlobFormat.RawSymmetricKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(keyBytes);
        }
    }

    /// <summary>Disposes the ephemeral private key if the handshake did not complete.</summary>
    public void Dispose()
    {
        _ephemeral?.Dispose();
        _ephemeral = null;
    }

    private static void ComputeSalt(uint networkId, DrtSecurityMode mode, ReadOnlySpan<byte> initiatorEphemeral, ReadOnlySpan<byte> responderEphemeral, ReadOnlySpan<byte> initiatorIdentity, ReadOnlySpan<byte> responderIdentity, Span<byte> salt)
    {
        IncrementalHash.Initialize(HashAlgorithm.Sha256, out IncrementalHash hash);
        Span<byte> scratch = stackalloc byte[1 + 32];
        int prefix = SecurityTags.WritePrefix(SecurityTags.Session, scratch);
        IncrementalHash.Update(ref hash, scratch[..prefix]);
        BinaryPrimitives.WriteUInt32BigEndian(scratch, networkId);
        scratch[4] = (byte)mode;
        IncrementalHash.Update(ref hash, scratch[..5]);
        IncrementalHash.Update(ref hash, initiatorEphemeral);
        IncrementalHash.Update(ref hash, responderEphemeral);
        scratch[0] = (byte)initiatorIdentity.Length;
        IncrementalHash.Update(ref hash, scratch[..1]);
        IncrementalHash.Update(ref hash, initiatorIdentity);
        scratch[0] = (byte)responderIdentity.Length;
        IncrementalHash.Update(ref hash, scratch[..1]);
        IncrementalHash.Update(ref hash, responderIdentity);
        IncrementalHash.Finalize(ref hash, salt);
    }
}
