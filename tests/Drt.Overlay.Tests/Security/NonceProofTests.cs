using Drt.Overlay.Security;
using Drt.Overlay.Wire.Protocol;
using Xunit;
using static Drt.Overlay.Tests.Security.SecurityTestKit;

namespace Drt.Overlay.Tests.Security;

/// <summary>Nonce proofs: the owner answers this search, for this searcher, about this record version.</summary>
public sealed class NonceProofTests : IDisposable
{
    private readonly DrtIdentity _owner = Identity(1);
    private readonly DrtIdentity _searcher = Identity(2);
    private readonly DrtIdentity _relay = Identity(3);
    private readonly DerivedKeySecurityProvider _ownerProvider;
    private readonly DerivedKeySecurityProvider _searcherProvider;
    private readonly SignedRecord _record;
    private readonly byte[] _digest = new byte[RecordSigning.DigestLength];
    private readonly byte[] _nonce = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();

    public NonceProofTests()
    {
        _ownerProvider = new DerivedKeySecurityProvider(DrtSecurityMode.Resolve, _owner, NetworkId);
        _searcherProvider = new DerivedKeySecurityProvider(DrtSecurityMode.Resolve, _searcher, NetworkId);
        _record = Signed(_ownerProvider, Record(_owner, sequence: 7));
        RecordSigning.ComputeDigest(NetworkId, _record, _digest);
    }

    public void Dispose()
    {
        _owner.Dispose();
        _searcher.Dispose();
        _relay.Dispose();
    }

    private byte[] Prove(byte[] nonce, ReadOnlySpan<byte> searcher)
    {
        byte[] signature = new byte[64];
        NonceProof.Sign(_ownerProvider, NetworkId, _record.Key, _record.Sequence, _digest, nonce, searcher, signature);
        return signature;
    }

    private bool Check(byte[] proof, byte[]? nonce = null, ulong? sequence = null, uint networkId = NetworkId)
        => NonceProof.Verify(_searcherProvider, _owner.PublicKey.Span, networkId, _record.Key, sequence ?? _record.Sequence, _digest, nonce ?? _nonce, _searcher.PublicKey.Span, proof);

    [Fact]
    public void A_fresh_proof_verifies()
    {
        Assert.True(Check(Prove(_nonce, _searcher.PublicKey.Span)));
    }

    [Fact]
    public void A_proof_replayed_for_another_nonce_fails()
    {
        byte[] old = Prove(_nonce, _searcher.PublicKey.Span);
        byte[] freshNonce = Flip(_nonce, 15);
        Assert.False(Check(old, nonce: freshNonce));
    }

    [Fact]
    public void A_proof_relayed_for_another_searcher_fails()
    {
        // The relay forwarded the searcher's nonce as its own search; the owner bound the relay's key.
        byte[] relayed = Prove(_nonce, _relay.PublicKey.Span);
        Assert.False(Check(relayed));
    }

    [Fact]
    public void A_proof_for_another_record_version_or_network_fails()
    {
        byte[] proof = Prove(_nonce, _searcher.PublicKey.Span);
        Assert.False(Check(proof, sequence: _record.Sequence + 1));
        Assert.False(Check(proof, networkId: NetworkId + 1));
        Assert.False(Check(Flip(proof, 0)));
        Assert.False(Check(proof.AsSpan(0, 63).ToArray()));
        Assert.False(NonceProof.Verify(_searcherProvider, _owner.PublicKey.Span, NetworkId, _record.Key, _record.Sequence, _digest, new byte[15], _searcher.PublicKey.Span, proof));
    }

    [Fact]
    public void A_MAC_proof_binds_the_same_things_under_the_pair_key()
    {
        using var owner = new PairKeys(NetworkId, 16, Enumerable.Repeat((byte)11, 32).ToArray());
        using var searcher = new PairKeys(NetworkId, 16, Enumerable.Repeat((byte)12, 32).ToArray());
        using var relay = new PairKeys(NetworkId, 16, Enumerable.Repeat((byte)13, 32).ToArray());
        Assert.True(owner.TryAgree(searcher.PublicKey.Span, out NSec.Cryptography.Key ownerSide));
        Assert.True(owner.TryAgree(relay.PublicKey.Span, out NSec.Cryptography.Key ownerWithRelay));
        Assert.True(searcher.TryAgree(owner.PublicKey.Span, out NSec.Cryptography.Key searcherSide));

        byte[] Mac(NSec.Cryptography.Key key, byte[] nonce, ReadOnlySpan<byte> searcherKey)
        {
            byte[] tag = new byte[16];
            NonceProof.Mac(key, NetworkId, _record.Key, _record.Sequence, _digest, nonce, searcherKey, tag);
            return tag;
        }

        bool CheckMac(byte[] tag, byte[]? nonce = null, ulong? sequence = null, uint networkId = NetworkId)
            => NonceProof.VerifyMac(searcherSide, networkId, _record.Key, sequence ?? _record.Sequence, _digest, nonce ?? _nonce, searcher.PublicKey.Span, tag);

        Assert.True(CheckMac(Mac(ownerSide, _nonce, searcher.PublicKey.Span)));
        Assert.False(CheckMac(Mac(ownerSide, _nonce, searcher.PublicKey.Span), nonce: Flip(_nonce, 15)));          // replayed
        Assert.False(CheckMac(Mac(ownerSide, _nonce, relay.PublicKey.Span)));                                      // bound to a relay
        Assert.False(CheckMac(Mac(ownerWithRelay, _nonce, relay.PublicKey.Span)));                                 // the relay's own answer
        Assert.False(CheckMac(Mac(ownerSide, _nonce, searcher.PublicKey.Span), sequence: _record.Sequence + 1));   // another version
        Assert.False(CheckMac(Mac(ownerSide, _nonce, searcher.PublicKey.Span), networkId: NetworkId + 1));
        Assert.False(NonceProof.VerifyMac(searcherSide, NetworkId, _record.Key, _record.Sequence, _digest, new byte[15], searcher.PublicKey.Span, Mac(ownerSide, _nonce, searcher.PublicKey.Span)));
    }
}
