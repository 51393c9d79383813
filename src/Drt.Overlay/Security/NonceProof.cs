using System.Buffers.Binary;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Security;

/// <summary>
/// A search's final answer proves that the record's owner is alive and answering this search (DRT's INQUIRE nonce in
/// the CPA, MC-DRT §3.2.5.6): the owner signs, with the identity of the record's key, the searcher's fresh nonce
/// together with what it answers for.
/// </summary>
/// <remarks>
/// Signed message: u8 len ‖ "drt.overlay/nonce/v1" ‖ network id (u32, big-endian) ‖ key (32) ‖ sequence (u64) ‖
/// record digest (32, <see cref="RecordSigning"/>) ‖ nonce (16) ‖ u8 len ‖ searcher public key (0 or 32).
/// A recorded answer replayed to a later search fails (the nonce differs); an answer an intermediary obtained for its
/// own search and relays to another searcher fails (the searcher's public key differs); an answer for an older record
/// version fails (sequence and digest). The searcher is bound by its public key rather than its address, which NAT
/// rewrites; in a mode without identities the searcher field is empty and the nonce alone binds the answer.
/// </remarks>
internal static class NonceProof
{
    private const int MaxMessageLength = 1 + 32 + 4 + Key256.Size + 8 + RecordSigning.DigestLength + WireLimits.NonceLength + 1 + WireLimits.PublicKeyLength;

    /// <summary>The owner's side: signs the proof into <paramref name="signature"/>.</summary>
    public static void Sign(ISecurityProvider owner, uint networkId, Key256 key, ulong sequence, ReadOnlySpan<byte> recordDigest, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> searcherPublicKey, Span<byte> signature)
    {
        Span<byte> message = stackalloc byte[MaxMessageLength];
        int length = Write(networkId, key, sequence, recordDigest, nonce, searcherPublicKey, message);
        owner.Sign(message[..length], signature);
    }

    /// <summary>The searcher's side: whether <paramref name="signature"/> proves the answer for this search; never throws.</summary>
    public static bool Verify(ISecurityProvider verifier, ReadOnlySpan<byte> ownerPublicKey, uint networkId, Key256 key, ulong sequence, ReadOnlySpan<byte> recordDigest, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> searcherPublicKey, ReadOnlySpan<byte> signature)
    {
        if (recordDigest.Length != RecordSigning.DigestLength || nonce.Length != WireLimits.NonceLength || searcherPublicKey.Length > WireLimits.PublicKeyLength)
        {
            return false;
        }

        Span<byte> message = stackalloc byte[MaxMessageLength];
        int length = Write(networkId, key, sequence, recordDigest, nonce, searcherPublicKey, message);
        return verifier.Verify(ownerPublicKey, message[..length], signature);
    }

    private static int Write(uint networkId, Key256 key, ulong sequence, ReadOnlySpan<byte> recordDigest, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> searcherPublicKey, Span<byte> destination)
    {
        if (recordDigest.Length != RecordSigning.DigestLength || nonce.Length != WireLimits.NonceLength || searcherPublicKey.Length > WireLimits.PublicKeyLength)
        {
            throw new DrtException(DrtError.InvalidArgument, $"A nonce proof binds a {RecordSigning.DigestLength}-byte record digest, a {WireLimits.NonceLength}-byte nonce and a searcher public key of at most {WireLimits.PublicKeyLength} bytes.");
        }

        int offset = SecurityTags.WritePrefix(SecurityTags.Nonce, destination);
        BinaryPrimitives.WriteUInt32BigEndian(destination[offset..], networkId);
        offset += 4;
        key.WriteBigEndian(destination[offset..]);
        offset += Key256.Size;
        BinaryPrimitives.WriteUInt64BigEndian(destination[offset..], sequence);
        offset += 8;
        recordDigest.CopyTo(destination[offset..]);
        offset += recordDigest.Length;
        nonce.CopyTo(destination[offset..]);
        offset += nonce.Length;
        destination[offset++] = (byte)searcherPublicKey.Length;
        searcherPublicKey.CopyTo(destination[offset..]);
        return offset + searcherPublicKey.Length;
    }
}
