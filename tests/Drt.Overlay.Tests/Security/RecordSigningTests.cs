using Drt.Overlay.Security;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;
using Xunit;
using static Drt.Overlay.Tests.Security.SecurityTestKit;

namespace Drt.Overlay.Tests.Security;

/// <summary>Record signatures: round trip, and every forgery refused.</summary>
public sealed class RecordSigningTests : IDisposable
{
    private readonly DrtIdentity _owner = Identity(1);
    private readonly DrtIdentity _other = Identity(2);
    private readonly DrtIdentity _verifierIdentity = Identity(3);
    private readonly DerivedKeySecurityProvider _ownerProvider;
    private readonly DerivedKeySecurityProvider _otherProvider;
    private readonly DerivedKeySecurityProvider _verifier;

    public RecordSigningTests()
    {
        _ownerProvider = new DerivedKeySecurityProvider(DrtSecurityMode.Resolve, _owner, NetworkId);
        _otherProvider = new DerivedKeySecurityProvider(DrtSecurityMode.Resolve, _other, NetworkId);
        _verifier = new DerivedKeySecurityProvider(DrtSecurityMode.Resolve, _verifierIdentity, NetworkId);
    }

    public void Dispose()
    {
        _owner.Dispose();
        _other.Dispose();
        _verifierIdentity.Dispose();
    }

    private RecordStatus Check(in SignedRecord record, uint networkId = NetworkId, long? now = null)
    {
        Span<byte> digest = stackalloc byte[RecordSigning.DigestLength];
        return RecordSigning.Verify(_verifier, networkId, record, now ?? NowUnix, digest);
    }

    // Signs the record's digest directly, skipping the check that the signer may publish the key: what an attacker does.
    private static SignedRecord Forge(ISecurityProvider signer, SignedRecord record)
    {
        byte[] signature = new byte[64];
        Span<byte> digest = stackalloc byte[RecordSigning.DigestLength];
        RecordSigning.ComputeDigest(NetworkId, record, digest);
        Span<byte> message = stackalloc byte[RecordSigning.SignedMessageLength];
        signer.Sign(message[..RecordSigning.WriteSignedMessage(digest, message)], signature);
        return record with { Signature = signature };
    }

    [Fact]
    public void A_signed_record_verifies()
    {
        SignedRecord record = Signed(_ownerProvider, Record(_owner));
        Assert.Equal(64, record.Signature.Length);
        Assert.Equal(RecordStatus.Valid, Check(record));
    }

    [Fact]
    public void The_record_survives_the_wire_codec()
    {
        // Decoded records hold their endpoints as encoded bytes; the digest re-encodes them and must agree.
        SignedRecord record = Signed(_ownerProvider, Record(_owner));
        var output = new System.Buffers.ArrayBufferWriter<byte>();
        var writer = new MessagePack.MessagePackWriter(output);
        record.Write(ref writer);
        writer.Flush();
        var reader = new WireReader(output.WrittenMemory);
        Assert.Equal(DecodeStatus.Ok, SignedRecord.TryRead(ref reader, out SignedRecord decoded));
        Assert.Equal(RecordStatus.Valid, Check(decoded));
    }

    [Fact]
    public void A_bad_signature_is_refused()
    {
        SignedRecord record = Signed(_ownerProvider, Record(_owner));
        Assert.Equal(RecordStatus.BadSignature, Check(record with { Signature = Flip(record.Signature, 10) }));
        Assert.Equal(RecordStatus.Malformed, Check(record with { Signature = ReadOnlyMemory<byte>.Empty }));
        Assert.Equal(RecordStatus.Malformed, Check(record with { PublicKey = ReadOnlyMemory<byte>.Empty }));
    }

    [Fact]
    public void A_key_not_derived_from_the_signers_public_key_is_refused()
    {
        // The other identity signs a record claiming the owner's key, with its own public key.
        SignedRecord claim = Record(_owner) with { PublicKey = _other.PublicKey.ToArray() };
        Assert.Equal(DrtError.InvalidKey, Assert.Throws<DrtException>(() => Signed(_otherProvider, claim)).Error);

        // Forged anyway (signing the digest directly): the key check refuses it before any signature check.
        Assert.Equal(RecordStatus.InvalidKey, Check(Forge(_otherProvider, claim)));
    }

    [Fact]
    public void The_digest_is_SHA256_of_the_documented_canonical_record()
    {
        // docs/security.md: network id ‖ key ‖ u8 len ‖ public key ‖ u8 len ‖ exchange key ‖ u16 len ‖ classifier ‖
        // u8 count ‖ endpoints as on the wire ‖ u16 len ‖ app data ‖ sequence ‖ expires ‖ flags, big-endian.
        SignedRecord record = Record(_owner, sequence: 0x0102030405060708, expires: 0x1112131415161718) with { ExchangeKey = Enumerable.Range(0, 32).Select(i => (byte)(200 + i)).ToArray() };
        var canonical = new List<byte>();
        canonical.AddRange(Convert.FromHexString("0D270001"));
        byte[] key = new byte[32];
        record.Key.WriteBigEndian(key);
        canonical.AddRange(key);
        canonical.Add(32);
        canonical.AddRange(record.PublicKey.ToArray());
        canonical.Add(32);
        canonical.AddRange(record.ExchangeKey.ToArray());
        canonical.AddRange(new byte[] { 0, 4 });
        canonical.AddRange("chat"u8.ToArray());
        canonical.Add(2);
        canonical.AddRange(Convert.FromHexString("C4067F0000019C41"));
        canonical.AddRange(Convert.FromHexString("C41220010DB80000000000000000000000079C42"));
        canonical.AddRange(new byte[] { 0, 5, 1, 2, 3, 4, 5 });
        canonical.AddRange(Convert.FromHexString("0102030405060708"));
        canonical.AddRange(Convert.FromHexString("1112131415161718"));
        canonical.Add(0);

        byte[] digest = new byte[RecordSigning.DigestLength];
        RecordSigning.ComputeDigest(NetworkId, record, digest);
        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(canonical.ToArray())), Convert.ToHexString(digest));
    }

    [Fact]
    public void Every_field_tampered_alone_is_refused()
    {
        SignedRecord record = Signed(_ownerProvider, Record(_owner, expires: (ulong)NowUnix + 3600));
        Assert.Equal(RecordStatus.Valid, Check(record));

        SignedRecord[] tampered =
        [
            record with { Key = record.Key + Key256.One },
            record with { PublicKey = Flip(record.PublicKey) },
            record with { ExchangeKey = Flip(record.ExchangeKey, 31) },
            record with { ExchangeKey = ReadOnlyMemory<byte>.Empty },
            record with { Classifier = "chaT"u8.ToArray() },
            record with { Endpoints = new[] { WireEndpoint.FromIPv4(0x7F00_0001, 40_001) } },
            record with { Endpoints = new[] { WireEndpoint.FromIPv4(0x7F00_0001, 40_009), WireEndpoint.FromIPEndPoint(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("2001:db8::7"), 40_002)) } },
            record with { AppData = Flip(record.AppData, 4) },
            record with { AppData = new byte[] { 1, 2, 3, 4, 5, 0 } },
            record with { Sequence = record.Sequence + 1 },
            record with { ExpiresUnixSeconds = record.ExpiresUnixSeconds + 1 },
            record with { ExpiresUnixSeconds = 0 },
            record with { Flags = RecordFlags.Revoked },
        ];
        for (int i = 0; i < tampered.Length; i++)
        {
            RecordStatus status = Check(tampered[i]);
            Assert.True(status is RecordStatus.BadSignature or RecordStatus.InvalidKey, $"tampered field #{i} gave {status}");
        }
    }

    [Fact]
    public void A_record_of_another_network_is_refused()
    {
        SignedRecord record = Signed(_ownerProvider, Record(_owner), networkId: NetworkId + 1);
        Assert.Equal(RecordStatus.BadSignature, Check(record));
        Assert.Equal(RecordStatus.Valid, Check(record, networkId: NetworkId + 1));
    }

    [Fact]
    public void An_expired_record_is_refused_at_exactly_its_expiry()
    {
        ulong expires = (ulong)NowUnix + 60;
        SignedRecord record = Signed(_ownerProvider, Record(_owner, expires: expires));
        Assert.Equal(RecordStatus.Valid, Check(record, now: (long)expires - 1));
        Assert.Equal(RecordStatus.Expired, Check(record, now: (long)expires));
        Assert.Equal(RecordStatus.Expired, Check(record, now: (long)expires + 1000));
    }

    [Fact]
    public void A_revocation_verifies_only_from_the_owner()
    {
        SignedRecord revocation = Signed(_ownerProvider, Record(_owner, sequence: 2, flags: RecordFlags.Revoked, appData: []));
        Assert.Equal(RecordStatus.Valid, Check(revocation));

        // Another identity cannot revoke the owner's key: a revocation of the owner's key and public key that it
        // signs fails the signature; one with its own public key fails the key derivation.
        SignedRecord unsigned = Record(_owner, sequence: 2, flags: RecordFlags.Revoked, appData: []);
        Assert.Equal(RecordStatus.BadSignature, Check(Forge(_otherProvider, unsigned)));
        Assert.Equal(RecordStatus.InvalidKey, Check(Forge(_otherProvider, unsigned with { PublicKey = _other.PublicKey.ToArray() })));
    }

    [Fact]
    public void A_revocation_makes_older_versions_stale_in_the_cache()
    {
        var cache = new RecordVerificationCache(_verifier, NetworkId, capacity: 8);
        SignedRecord live = Signed(_ownerProvider, Record(_owner, sequence: 5));
        SignedRecord revoked = Signed(_ownerProvider, Record(_owner, sequence: 6, flags: RecordFlags.Revoked, appData: []));
        Assert.Equal(RecordStatus.Valid, cache.Verify(live, NowUnix));
        Assert.Equal(RecordStatus.Valid, cache.Verify(revoked, NowUnix));
        Assert.Equal(RecordStatus.Stale, cache.Verify(live, NowUnix));
    }

    [Fact]
    public void Null_provider_accepts_unsigned_records()
    {
        SignedRecord record = Record(_owner) with { PublicKey = ReadOnlyMemory<byte>.Empty };
        Span<byte> digest = stackalloc byte[RecordSigning.DigestLength];
        Assert.Equal(RecordStatus.Valid, RecordSigning.Verify(NullSecurityProvider.Instance, NetworkId, record, NowUnix, digest));
        Assert.Equal(0, NullSecurityProvider.Instance.SignatureLength);
    }
}
