using System.Runtime.InteropServices;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Security;

/// <summary>
/// Verifies each record version once (DESIGN §5: an Ed25519 verify costs about five routing hops) and remembers the
/// newest verified version per key: (sequence, digest). Bounded; a hit allocates nothing; one engine thread uses it.
/// </summary>
/// <remarks>
/// <para>
/// Rules, per key: a sequence below the remembered one is <see cref="RecordStatus.Stale"/> without any crypto; the same
/// sequence with the same digest is a hit (the verified result); anything else is verified in full, and a valid record
/// whose sequence is at least the remembered one replaces it (so a revocation, a newer record with the Revoked flag,
/// makes every older version stale). Expiry is checked on every call, hit or not, against the caller's time.
/// </para>
/// <para>
/// Only valid records are remembered: forgeries cost nothing to vary, so caching them would buy nothing and let an
/// attacker fill the cache. When full, the oldest inserted key is evicted (FIFO over a ring of keys): an evicted key
/// loses its stale protection here, so the engine still compares sequences with the registrations it stores.
/// </para>
/// </remarks>
internal sealed class RecordVerificationCache
{
    private readonly ISecurityProvider _provider;
    private readonly uint _networkId;
    private readonly Dictionary<Key256, Entry> _entries;
    private readonly Key256[] _insertionRing;
    private int _nextEviction;

    /// <summary>A cache verifying through <paramref name="provider"/> for network <paramref name="networkId"/>, holding at most <paramref name="capacity"/> keys.</summary>
    public RecordVerificationCache(ISecurityProvider provider, uint networkId, int capacity)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _provider = provider;
        _networkId = networkId;
        _entries = new Dictionary<Key256, Entry>(capacity);
        _insertionRing = new Key256[capacity];
    }

    /// <summary>Keys remembered.</summary>
    public int Count => _entries.Count;

    /// <summary>Records answered from the cache.</summary>
    public long Hits { get; private set; }

    /// <summary>Records verified in full.</summary>
    public long Verifications { get; private set; }

    /// <summary>Checks <paramref name="record"/> at <paramref name="nowUnixSeconds"/>.</summary>
    public RecordStatus Verify(in SignedRecord record, long nowUnixSeconds)
    {
        Span<byte> digest = stackalloc byte[RecordSigning.DigestLength];
        return Verify(record, nowUnixSeconds, digest);
    }

    /// <summary>
    /// Checks <paramref name="record"/> at <paramref name="nowUnixSeconds"/>; <paramref name="digestBytes"/> (32 bytes)
    /// receives the record's digest unless it expired (a nonce proof binds it).
    /// </summary>
    public RecordStatus Verify(in SignedRecord record, long nowUnixSeconds, Span<byte> digestBytes)
    {
        if (RecordSigning.IsExpired(record, nowUnixSeconds))
        {
            return RecordStatus.Expired;
        }

        RecordSigning.ComputeDigest(_networkId, record, digestBytes);
        Key256 digest = Key256.ReadBigEndian(digestBytes);

        ref Entry entry = ref CollectionsMarshal.GetValueRefOrNullRef(_entries, record.Key);
        bool known = !System.Runtime.CompilerServices.Unsafe.IsNullRef(ref entry);
        if (known)
        {
            if (record.Sequence < entry.Sequence)
            {
                return RecordStatus.Stale;
            }

            if (record.Sequence == entry.Sequence && digest == entry.Digest)
            {
                Hits++;
                return RecordStatus.Valid;
            }
        }

        Verifications++;
        RecordStatus status = RecordSigning.Verify(_provider, _networkId, record, nowUnixSeconds, digestBytes);
        if (status != RecordStatus.Valid)
        {
            return status;
        }

        if (known)
        {
            entry = new Entry(record.Sequence, digest);
            return status;
        }

        if (_entries.Count == _insertionRing.Length)
        {
            // Every remembered key sits in exactly one ring slot: it enters the ring when it enters the dictionary
            // and leaves both when its slot is reused.
            _entries.Remove(_insertionRing[_nextEviction]);
        }

        _insertionRing[_nextEviction] = record.Key;
        _nextEviction = (_nextEviction + 1) % _insertionRing.Length;
        _entries.Add(record.Key, new Entry(record.Sequence, digest));
        return status;
    }

    /// <summary>The remembered sequence of <paramref name="key"/>, if any.</summary>
    public bool TryGetSequence(Key256 key, out ulong sequence)
    {
        bool found = _entries.TryGetValue(key, out Entry entry);
        sequence = entry.Sequence;
        return found;
    }

    private readonly record struct Entry(ulong Sequence, Key256 Digest);
}
