using BenchmarkDotNet.Attributes;
using Drt.Overlay.Security;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Benchmarks;

/// <summary>
/// The security costs DESIGN §6 budgets for: a record signature and its verification (once per record version), a
/// verification-cache hit (every further sight of the record), a search answer's nonce proof made and checked (an
/// Ed25519 signature and its verification, or a BLAKE2b MAC under a pair key both ends hold), the pair-key agreement
/// that makes the MAC possible (once per pair), sealing and opening a 512-byte datagram body in Membership (tag only)
/// and Confidential (encrypted) sessions, and the X25519 + HKDF handshake. All but the agreement, the handshake and the
/// full verify should allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class SecurityBenchmarks
{
    private const uint NetworkId = 0xD27_0001;
    private const int HeaderLength = 20;
    private const int BodyLength = 512;

    private readonly byte[] _signature = new byte[64];
    private DrtIdentity _owner = null!;
    private DrtIdentity _peer = null!;
    private DerivedKeySecurityProvider _ownerProvider = null!;
    private DerivedKeySecurityProvider _peerProvider = null!;
    private DerivedKeySecurityProvider _ownerMembership = null!;
    private DerivedKeySecurityProvider _peerMembership = null!;
    private SignedRecord _unsigned;
    private SignedRecord _signed;
    private RecordVerificationCache _cache = null!;
    private ISecureSession _authSender = null!;
    private ISecureSession _authReceiver = null!;
    private ISecureSession _encSender = null!;
    private ISecureSession _encReceiver = null!;
    private byte[] _datagram = null!;
    private PairKeys _ownerPairs = null!;
    private PairKeys _searcherPairs = null!;
    private readonly byte[] _digest = new byte[RecordSigning.DigestLength];
    private readonly byte[] _nonce = new byte[16];
    private readonly byte[] _proof = new byte[64];

    [GlobalSetup]
    public void Setup()
    {
        _owner = DrtIdentity.FromPrivateKey(Enumerable.Repeat((byte)1, 32).ToArray());
        _peer = DrtIdentity.FromPrivateKey(Enumerable.Repeat((byte)2, 32).ToArray());
        using DrtIdentity root = DrtIdentity.FromPrivateKey(Enumerable.Repeat((byte)100, 32).ToArray());
        DateTimeOffset now = DateTimeOffset.UnixEpoch.AddYears(60);
        _ownerProvider = new DerivedKeySecurityProvider(DrtSecurityMode.Confidential, _owner, NetworkId, root.PublicKey, Credential(root, _owner, now));
        _peerProvider = new DerivedKeySecurityProvider(DrtSecurityMode.Confidential, _peer, NetworkId, root.PublicKey, Credential(root, _peer, now));
        _ownerMembership = new DerivedKeySecurityProvider(DrtSecurityMode.Membership, _owner, NetworkId, root.PublicKey, Credential(root, _owner, now));
        _peerMembership = new DerivedKeySecurityProvider(DrtSecurityMode.Membership, _peer, NetworkId, root.PublicKey, Credential(root, _peer, now));

        WireEndpoint[] endpoints = [WireEndpoint.FromIPv4(0x7F00_0001, 40_001), WireEndpoint.FromIPv4(0x0A00_0001, 40_001)];
        _unsigned = new SignedRecord(_owner.DeriveKey("bench"), _owner.PublicKey, new byte[32], "bench"u8.ToArray(), endpoints, new byte[256], 1, 0, RecordFlags.None, ReadOnlyMemory<byte>.Empty);
        RecordSigning.Sign(_ownerProvider, NetworkId, _unsigned, _signature);
        _signed = _unsigned with { Signature = _signature.ToArray() };
        _cache = new RecordVerificationCache(_peerProvider, NetworkId, capacity: 1024);
        _cache.Verify(_signed, 0);

        (_authSender, _authReceiver) = Pair(DrtSecurityMode.Membership);
        (_encSender, _encReceiver) = Pair(DrtSecurityMode.Confidential);
        _datagram = new byte[HeaderLength + BodyLength + SecureSession.TrailerLength];

        _ownerPairs = new PairKeys(NetworkId, 1024, Enumerable.Repeat((byte)3, 32).ToArray());
        _searcherPairs = new PairKeys(NetworkId, 1024, Enumerable.Repeat((byte)4, 32).ToArray());
        _ownerPairs.TryAgree(_searcherPairs.PublicKey.Span, out _);
        _searcherPairs.TryAgree(_ownerPairs.PublicKey.Span, out _);
        RecordSigning.ComputeDigest(NetworkId, _signed, _digest);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _authSender.Dispose();
        _authReceiver.Dispose();
        _encSender.Dispose();
        _encReceiver.Dispose();
        _owner.Dispose();
        _peer.Dispose();
        _ownerPairs.Dispose();
        _searcherPairs.Dispose();
    }

    /// <summary>Ed25519 signature over a record's digest (about 300 bytes of record).</summary>
    [Benchmark]
    public void RecordSign() => RecordSigning.Sign(_ownerProvider, NetworkId, _unsigned, _signature);

    /// <summary>Full verification: key derivation check, digest, Ed25519 verify.</summary>
    [Benchmark]
    public int RecordVerify()
    {
        Span<byte> digest = stackalloc byte[RecordSigning.DigestLength];
        return (int)RecordSigning.Verify(_peerProvider, NetworkId, _signed, 0, digest);
    }

    /// <summary>A record seen before: digest and one dictionary look-up.</summary>
    [Benchmark]
    public int VerificationCacheHit() => (int)_cache.Verify(_signed, 0);

    /// <summary>A signed nonce proof: the owner signs it, the searcher verifies it (the fallback, and every answer before).</summary>
    [Benchmark]
    public bool NonceProofSigned()
    {
        NonceProof.Sign(_ownerProvider, NetworkId, _signed.Key, _signed.Sequence, _digest, _nonce, _searcherPairs.PublicKey.Span, _proof);
        return NonceProof.Verify(_peerProvider, _owner.PublicKey.Span, NetworkId, _signed.Key, _signed.Sequence, _digest, _nonce, _searcherPairs.PublicKey.Span, _proof);
    }

    /// <summary>A MAC nonce proof between a pair that has met: each end finds its pair key, the owner MACs, the searcher checks.</summary>
    [Benchmark]
    public bool NonceProofMac()
    {
        _ownerPairs.TryGet(_searcherPairs.PublicKey.Span, out NSec.Cryptography.Key ownerKey);
        NonceProof.Mac(ownerKey, NetworkId, _signed.Key, _signed.Sequence, _digest, _nonce, _searcherPairs.PublicKey.Span, _proof);
        _searcherPairs.TryGet(_ownerPairs.PublicKey.Span, out NSec.Cryptography.Key searcherKey);
        return NonceProof.VerifyMac(searcherKey, NetworkId, _signed.Key, _signed.Sequence, _digest, _nonce, _searcherPairs.PublicKey.Span, _proof.AsSpan(0, 16));
    }

    /// <summary>One end's pair-key agreement with a peer it has not met: X25519, HKDF, a BLAKE2b key (once per pair and end).</summary>
    [Benchmark]
    public bool PairKeyAgreement() => _ownerPairs.TryAgree(_searcherPairs.PublicKey.Span, out _);

    /// <summary>Membership: tag over header and a 512-byte body, then check it.</summary>
    [Benchmark]
    public SecureSessionStatus SealOpenAuthenticated512() => SealOpen(_authSender, _authReceiver);

    /// <summary>Confidential: encrypt a 512-byte body in place, then decrypt it.</summary>
    [Benchmark]
    public SecureSessionStatus SealOpenEncrypted512() => SealOpen(_encSender, _encReceiver);

    /// <summary>Both sides of a handshake: two ephemeral key pairs, two X25519 agreements, HKDF, four AEAD keys.</summary>
    [Benchmark]
    public ulong Handshake()
    {
        (ISecureSession a, ISecureSession b) = Pair(DrtSecurityMode.Membership);
        ulong id = a.SessionId;
        a.Dispose();
        b.Dispose();
        return id;
    }

    private SecureSessionStatus SealOpen(ISecureSession sender, ISecureSession receiver)
    {
        sender.TrySeal(_datagram, HeaderLength, BodyLength, out int sealedLength);
        return receiver.TryOpen(_datagram.AsSpan(0, sealedLength), HeaderLength, out _);
    }

    private (ISecureSession Initiator, ISecureSession Responder) Pair(DrtSecurityMode mode)
    {
        ISecurityProvider initiatorProvider = mode == DrtSecurityMode.Confidential ? _ownerProvider : _ownerMembership;
        ISecurityProvider responderProvider = mode == DrtSecurityMode.Confidential ? _peerProvider : _peerMembership;
        using ISessionHandshake initiator = initiatorProvider.BeginSession()!;
        using ISessionHandshake responder = responderProvider.BeginSession()!;
        ISecureSession i = initiator.Complete(responder.LocalEphemeralKey, _peer.PublicKey.Span, isInitiator: true)!;
        ISecureSession r = responder.Complete(initiator.LocalEphemeralKey, _owner.PublicKey.Span, isInitiator: false)!;
        return (i, r);
    }

    private static DrtCredential Credential(DrtIdentity root, DrtIdentity member, DateTimeOffset now)
        => DrtCredential.Issue(root, member.PublicKey.Span, now.AddDays(-1), now.AddDays(365 * 100), "bench", NetworkId);
}
