using System.Buffers.Binary;
using Drt.Overlay.Wire.Protocol;
using Drt.Overlay.Wire;
using NSec.Cryptography;

namespace Drt.Overlay.Security;

/// <summary>
/// An engine's static X25519 exchange key and the pair keys it agreed with other engines' exchange keys: what lets an
/// owner prove its answer to a searcher with a 16-byte BLAKE2b MAC instead of an Ed25519 signature (docs/security.md,
/// "MAC nonce proofs").
/// </summary>
/// <remarks>
/// <para>
/// Key schedule, for exchange keys A (ours) and B (the peer's): shared = X25519(a, B) (a low-order B gives no key);
/// K = HKDF-SHA256(IKM = shared, salt = u8 len ‖ "drt.overlay/pair/v1" ‖ network id (u32), info = the lower of A and B
/// ‖ the higher (bytewise), 32 bytes), a BLAKE2b-128 MAC key. Both ends compute the same K, whichever of them is the
/// owner; the proof message names the record (key, sequence, digest, which covers the owner's exchange key) and the
/// searcher's exchange key, so one pair key serves both directions without one side's proof passing for the other's.
/// </para>
/// <para>
/// Why it proves anything: the owner's exchange key travels in its record, which its identity signs and every node
/// verifies once per version; only the holders of a and b can compute K, and the searcher knows it did not make the
/// MAC. A relayed answer fails (it was made under the relay's pair key), a replayed one fails (the nonce is fresh).
/// </para>
/// <para>
/// The table is bounded (<c>capacity</c> keys, the oldest inserted evicted and its key disposed) and keyed by exchange
/// key, not by address. An agreement costs about two Ed25519 signatures, then every proof between the pair costs a
/// MAC (well under a microsecond); the engine rate-limits the agreements strangers can make it compute.
/// </para>
/// </remarks>
internal sealed class PairKeys : IDisposable
{
    private static readonly MacAlgorithm s_mac = MacAlgorithm.Blake2b_128;

    private readonly uint _networkId;
    private readonly Key _exchange;
    private readonly byte[] _publicKey;
    private readonly Dictionary<Key256, Key> _keys;
    private readonly Key256[] _insertionRing;
    private int _nextEviction;
    private bool _disposed;

    /// <summary>
    /// Pair keys for network <paramref name="networkId"/>, at most <paramref name="capacity"/> at once, under an exchange
    /// key made from <paramref name="privateKey"/> (32 bytes from the engine's nonce source, so a seeded simulation
    /// replays byte for byte).
    /// </summary>
    public PairKeys(uint networkId, int capacity, ReadOnlySpan<byte> privateKey)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _networkId = networkId;
        _exchange = Key.Import(KeyAgreementAlgorithm.X25519, privateKey, KeyBlobFormat.RawPrivateKey);
        _publicKey = _exchange.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        _keys = new Dictionary<Key256, Key>(Math.Min(capacity, 1024));
        _insertionRing = new Key256[capacity];
    }

    /// <summary>This engine's exchange key (X25519, 32 bytes): in its records and its inquiries.</summary>
    public ReadOnlyMemory<byte> PublicKey => _publicKey;

    /// <summary>Pair keys held.</summary>
    public int Count => _keys.Count;

    /// <summary>Agreements computed (X25519 and HKDF), over the engine's life.</summary>
    public long Agreements { get; private set; }

    /// <summary>Pair keys evicted to make room.</summary>
    public long Evictions { get; private set; }

    /// <summary>The pair key with <paramref name="peerExchangeKey"/> if one is held; allocates nothing.</summary>
    public bool TryGet(ReadOnlySpan<byte> peerExchangeKey, out Key pairKey)
    {
        pairKey = null!;
        return peerExchangeKey.Length == WireLimits.ExchangeKeyLength
            && _keys.TryGetValue(Key256.ReadBigEndian(peerExchangeKey), out pairKey!);
    }

    /// <summary>
    /// Agrees a pair key with <paramref name="peerExchangeKey"/> and keeps it (evicting the oldest when full). False for
    /// a key that is not 32 bytes or is of low order (an all-zero shared secret): no key, no proof.
    /// </summary>
    public bool TryAgree(ReadOnlySpan<byte> peerExchangeKey, out Key pairKey)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        pairKey = null!;
        if (peerExchangeKey.Length != WireLimits.ExchangeKeyLength
            || !NSec.Cryptography.PublicKey.TryImport(KeyAgreementAlgorithm.X25519, peerExchangeKey, KeyBlobFormat.RawPublicKey, out NSec.Cryptography.PublicKey? peer)
            || peer is null)
        {
            return false;
        }

        Agreements++;
        using SharedSecret? shared = KeyAgreementAlgorithm.X25519.Agree(_exchange, peer);
        if (shared is null)
        {
            return false;
        }

        Span<byte> salt = stackalloc byte[1 + SecurityTags.Pair.Length + 4];
        int offset = SecurityTags.WritePrefix(SecurityTags.Pair, salt);
        BinaryPrimitives.WriteUInt32BigEndian(salt[offset..], _networkId);
        Span<byte> info = stackalloc byte[2 * WireLimits.ExchangeKeyLength];
        bool oursFirst = _publicKey.AsSpan().SequenceCompareTo(peerExchangeKey) <= 0;
        (oursFirst ? _publicKey : peerExchangeKey).CopyTo(info);
        (oursFirst ? peerExchangeKey : _publicKey).CopyTo(info[WireLimits.ExchangeKeyLength..]);
        pairKey = KeyDerivationAlgorithm.HkdfSha256.DeriveKey(shared, salt, info, s_mac);

        Key256 id = Key256.ReadBigEndian(peerExchangeKey);
        if (_keys.Remove(id, out Key? previous))
        {
            previous.Dispose(); // agreed again (the caller did not look first): same key material, its ring slot stays
        }
        else
        {
            if (_keys.Count == _insertionRing.Length && _keys.Remove(_insertionRing[_nextEviction], out Key? evicted))
            {
                // The slot about to be reused names the oldest key held (every held key has exactly one ring slot).
                evicted.Dispose();
                Evictions++;
            }

            _insertionRing[_nextEviction] = id;
            _nextEviction = (_nextEviction + 1) % _insertionRing.Length;
        }

        _keys.Add(id, pairKey);
        return true;
    }

    /// <summary>The pair key with <paramref name="peerExchangeKey"/>, agreed now when none is held (see <see cref="TryAgree"/>).</summary>
    public bool TryGetOrAgree(ReadOnlySpan<byte> peerExchangeKey, out Key pairKey)
        => TryGet(peerExchangeKey, out pairKey) || TryAgree(peerExchangeKey, out pairKey);

    /// <summary>The MAC of <paramref name="message"/> under <paramref name="pairKey"/> into <paramref name="tag"/> (16 bytes).</summary>
    public static void Mac(Key pairKey, ReadOnlySpan<byte> message, Span<byte> tag) => s_mac.Mac(pairKey, message, tag[..WireLimits.MacProofLength]);

    /// <summary>Whether <paramref name="tag"/> is the MAC of <paramref name="message"/> under <paramref name="pairKey"/> (constant time).</summary>
    public static bool VerifyMac(Key pairKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> tag)
        => tag.Length == WireLimits.MacProofLength && s_mac.Verify(pairKey, message, tag);

    /// <summary>Disposes the exchange key and every pair key (they live in libsodium's guarded memory).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (Key key in _keys.Values)
        {
            key.Dispose();
        }

        _keys.Clear();
        _exchange.Dispose();
    }
}
