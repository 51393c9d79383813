using System.Buffers.Binary;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Security;

/// <summary>
/// A search's final answer proves that the record's owner is alive and answering this search (DRT's INQUIRE nonce in
/// the CPA, MC-DRT §3.2.5.6): the owner proves, for the searcher's fresh nonce, what it answers for — with a MAC under
/// the pair key of its and the searcher's exchange keys (<see cref="PairKeys"/>), or with a signature by the identity
/// of the record's key.
/// </summary>
/// <remarks>
/// Proved message: u8 len ‖ "drt.overlay/nonce/v1" ‖ network id (u32, big-endian) ‖ key (32) ‖ sequence (u64) ‖
/// record digest (32, <see cref="RecordSigning"/>; it covers the owner's exchange key) ‖ nonce (16) ‖ u8 len ‖
/// searcher exchange key (0 or 32). A recorded answer replayed to a later search fails (the nonce differs); an answer
/// an intermediary obtained for its own search and relays to another searcher fails (the searcher's exchange key
/// differs, and a MAC was made under the intermediary's pair key); an answer for an older record version fails
/// (sequence and digest). The searcher is bound by its exchange key rather than its address, which NAT rewrites.
/// </remarks>
internal static class NonceProof
{
    private const int MaxMessageLength = 1 + 32 + 4 + Key256.Size + 8 + RecordSigning.DigestLength + WireLimits.NonceLength + 1 + WireLimits.ExchangeKeyLength;

    /// <summary>The owner's side: signs the proof into <paramref name="signature"/>.</summary>
    public static void Sign(ISecurityProvider owner, uint networkId, Key256 key, ulong sequence, ReadOnlySpan<byte> recordDigest, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> searcherExchangeKey, Span<byte> signature)
    {
        Span<byte> message = stackalloc byte[MaxMessageLength];
        int length = Write(networkId, key, sequence, recordDigest, nonce, searcherExchangeKey, message);
        owner.Sign(message[..length], signature);
    }

    /// <summary>The owner's side: the MAC proof under <paramref name="pairKey"/> into <paramref name="tag"/> (16 bytes).</summary>
    public static void Mac(NSec.Cryptography.Key pairKey, uint networkId, Key256 key, ulong sequence, ReadOnlySpan<byte> recordDigest, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> searcherExchangeKey, Span<byte> tag)
    {
        Span<byte> message = stackalloc byte[MaxMessageLength];
        int length = Write(networkId, key, sequence, recordDigest, nonce, searcherExchangeKey, message);
        PairKeys.Mac(pairKey, message[..length], tag);
    }

    /// <summary>The searcher's side: whether <paramref name="tag"/> is the MAC proof for this search under <paramref name="pairKey"/>; never throws.</summary>
    public static bool VerifyMac(NSec.Cryptography.Key pairKey, uint networkId, Key256 key, ulong sequence, ReadOnlySpan<byte> recordDigest, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> searcherExchangeKey, ReadOnlySpan<byte> tag)
    {
        if (recordDigest.Length != RecordSigning.DigestLength || nonce.Length != WireLimits.NonceLength || searcherExchangeKey.Length > WireLimits.ExchangeKeyLength)
        {
            return false;
        }

        Span<byte> message = stackalloc byte[MaxMessageLength];
        int length = Write(networkId, key, sequence, recordDigest, nonce, searcherExchangeKey, message);
        return PairKeys.VerifyMac(pairKey, message[..length], tag);
    }

    /// <summary>The searcher's side: whether <paramref name="signature"/> proves the answer for this search; never throws.</summary>
    public static bool Verify(ISecurityProvider verifier, ReadOnlySpan<byte> ownerPublicKey, uint networkId, Key256 key, ulong sequence, ReadOnlySpan<byte> recordDigest, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> searcherExchangeKey, ReadOnlySpan<byte> signature)
    {
        if (recordDigest.Length != RecordSigning.DigestLength || nonce.Length != WireLimits.NonceLength || searcherExchangeKey.Length > WireLimits.ExchangeKeyLength)
        {
            return false;
        }

        Span<byte> message = stackalloc byte[MaxMessageLength];
        int length = Write(networkId, key, sequence, recordDigest, nonce, searcherExchangeKey, message);
        return verifier.Verify(ownerPublicKey, message[..length], signature);
    }

    private static int Write(uint networkId, Key256 key, ulong sequence, ReadOnlySpan<byte> recordDigest, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> searcherExchangeKey, Span<byte> destination)
    {
        if (recordDigest.Length != RecordSigning.DigestLength || nonce.Length != WireLimits.NonceLength || searcherExchangeKey.Length > WireLimits.ExchangeKeyLength)
        {
            throw new DrtException(DrtError.InvalidArgument, $"A nonce proof binds a {RecordSigning.DigestLength}-byte record digest, a {WireLimits.NonceLength}-byte nonce and a searcher exchange key of at most {WireLimits.ExchangeKeyLength} bytes.");
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
        destination[offset++] = (byte)searcherExchangeKey.Length;
        searcherExchangeKey.CopyTo(destination[offset..]);
        return offset + searcherExchangeKey.Length;
    }
}
