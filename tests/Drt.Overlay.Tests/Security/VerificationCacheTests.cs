using Drt.Overlay.Security;
using Drt.Overlay.Wire.Protocol;
using Xunit;
using static Drt.Overlay.Tests.Security.SecurityTestKit;

namespace Drt.Overlay.Tests.Security;

/// <summary>The verification cache: once per (key, sequence, digest), stale and expiry rules, bound, no allocation on a hit.</summary>
public sealed class VerificationCacheTests : IDisposable
{
    private readonly DrtIdentity _owner = Identity(1);
    private readonly DerivedKeySecurityProvider _provider;

    public VerificationCacheTests() => _provider = new DerivedKeySecurityProvider(DrtSecurityMode.Resolve, _owner, NetworkId);

    public void Dispose() => _owner.Dispose();

    [Fact]
    public void A_record_is_verified_once_per_key_and_sequence()
    {
        var cache = new RecordVerificationCache(_provider, NetworkId, capacity: 16);
        SignedRecord first = Signed(_provider, Record(_owner, sequence: 1));
        Assert.Equal(RecordStatus.Valid, cache.Verify(first, NowUnix));
        Assert.Equal(RecordStatus.Valid, cache.Verify(first, NowUnix));
        Assert.Equal(RecordStatus.Valid, cache.Verify(first, NowUnix));
        Assert.Equal(1, cache.Verifications);
        Assert.Equal(2, cache.Hits);

        SignedRecord second = Signed(_provider, Record(_owner, sequence: 2));
        Assert.Equal(RecordStatus.Valid, cache.Verify(second, NowUnix));
        Assert.Equal(2, cache.Verifications);
        Assert.True(cache.TryGetSequence(first.Key, out ulong sequence));
        Assert.Equal(2UL, sequence);

        // The older sequence after the newer one: stale, without verifying.
        Assert.Equal(RecordStatus.Stale, cache.Verify(first, NowUnix));
        Assert.Equal(2, cache.Verifications);
    }

    [Fact]
    public void A_forgery_with_a_cached_sequence_is_verified_and_refused()
    {
        var cache = new RecordVerificationCache(_provider, NetworkId, capacity: 16);
        SignedRecord record = Signed(_provider, Record(_owner, sequence: 3));
        Assert.Equal(RecordStatus.Valid, cache.Verify(record, NowUnix));

        // Same key and sequence, other content: not a hit (the digest differs), and the signature fails.
        SignedRecord forged = record with { AppData = new byte[] { 9, 9, 9 } };
        Assert.Equal(RecordStatus.BadSignature, cache.Verify(forged, NowUnix));
        Assert.Equal(RecordStatus.BadSignature, cache.Verify(record with { Signature = Flip(record.Signature, 3), Sequence = 4 }, NowUnix));

        // The good record is still remembered.
        Assert.Equal(RecordStatus.Valid, cache.Verify(record, NowUnix));
        Assert.Equal(1, cache.Hits);
    }

    [Fact]
    public void Expiry_is_checked_on_hits_too()
    {
        var cache = new RecordVerificationCache(_provider, NetworkId, capacity: 16);
        SignedRecord record = Signed(_provider, Record(_owner, expires: (ulong)NowUnix + 10));
        Assert.Equal(RecordStatus.Valid, cache.Verify(record, NowUnix));
        Assert.Equal(RecordStatus.Expired, cache.Verify(record, NowUnix + 10));
    }

    [Fact]
    public void The_cache_is_bounded_and_evicts_the_oldest_key()
    {
        var cache = new RecordVerificationCache(_provider, NetworkId, capacity: 3);
        SignedRecord[] records = new SignedRecord[5];
        for (int i = 0; i < records.Length; i++)
        {
            records[i] = Signed(_provider, Record(_owner, classifier: $"k{i}"));
            Assert.Equal(RecordStatus.Valid, cache.Verify(records[i], NowUnix));
            Assert.True(cache.Count <= 3);
        }

        Assert.Equal(3, cache.Count);
        Assert.False(cache.TryGetSequence(records[0].Key, out _));
        Assert.False(cache.TryGetSequence(records[1].Key, out _));
        Assert.True(cache.TryGetSequence(records[4].Key, out _));
    }

    [Fact]
    public void A_hit_allocates_nothing()
    {
        var cache = new RecordVerificationCache(_provider, NetworkId, capacity: 16);
        SignedRecord record = Signed(_provider, Record(_owner, appData: new byte[2048]));
        Assert.Equal(RecordStatus.Valid, cache.Verify(record, NowUnix));
        for (int i = 0; i < 10; i++)
        {
            cache.Verify(record, NowUnix);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            cache.Verify(record, NowUnix);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(1, cache.Verifications);
    }
}
