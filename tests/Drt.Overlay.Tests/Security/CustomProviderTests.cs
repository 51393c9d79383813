using Drt.Overlay.Security;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;
using Xunit;
using static Drt.Overlay.Tests.Security.SecurityTestKit;

namespace Drt.Overlay.Tests.Security;

/// <summary>A provider written outside the library plugs into the same signing, verification and caching.</summary>
public sealed class CustomProviderTests
{
    /// <summary>
    /// A provider that allows keys by an allow-list of classifiers (not derived from public keys) and "signs" with a
    /// keyed hash: the shape of the DRT SDK sample's custom provider, which still checks what it is given.
    /// </summary>
    private sealed class AllowListProvider(byte[] secret, params string[] classifiers) : ISecurityProvider
    {
        public int SignCalls { get; private set; }

        public int VerifyCalls { get; private set; }

        public DrtSecurityMode Mode => DrtSecurityMode.Resolve;

        public ReadOnlyMemory<byte> PublicKey { get; } = new byte[32];

        public int SignatureLength => 32;

        public ReadOnlyMemory<byte> LocalCredential => ReadOnlyMemory<byte>.Empty;

        public bool IsKeyAllowed(Key256 key, ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> classifier)
            => Array.IndexOf(classifiers, System.Text.Encoding.UTF8.GetString(classifier)) >= 0;

        public void Sign(ReadOnlySpan<byte> message, Span<byte> signature)
        {
            SignCalls++;
            System.Security.Cryptography.HMACSHA256.HashData(secret, message, signature);
        }

        public bool Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
        {
            VerifyCalls++;
            Span<byte> expected = stackalloc byte[32];
            System.Security.Cryptography.HMACSHA256.HashData(secret, message, expected);
            return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(expected, signature);
        }

        public DrtCredentialStatus CheckCredential(ReadOnlySpan<byte> credential, ReadOnlySpan<byte> publicKey, DateTimeOffset now) => DrtCredentialStatus.Valid;

        public ISessionHandshake? BeginSession() => null;
    }

    [Fact]
    public void A_custom_provider_signs_verifies_and_is_cached()
    {
        var provider = new AllowListProvider([1, 2, 3], "printer");
        using DrtIdentity owner = Identity(1);
        SignedRecord record = Signed(provider, Record(owner, classifier: "printer") with { PublicKey = provider.PublicKey });
        Assert.Equal(32, record.Signature.Length);
        Assert.Equal(1, provider.SignCalls);

        var cache = new RecordVerificationCache(provider, NetworkId, capacity: 4);
        Assert.Equal(RecordStatus.Valid, cache.Verify(record, NowUnix));
        Assert.Equal(RecordStatus.Valid, cache.Verify(record, NowUnix));
        Assert.Equal(1, provider.VerifyCalls);

        Assert.Equal(RecordStatus.BadSignature, cache.Verify(record with { AppData = new byte[] { 0 } }, NowUnix));
        Assert.Equal(RecordStatus.InvalidKey, cache.Verify(record with { Classifier = "scanner"u8.ToArray() }, NowUnix));

        // The library refuses to sign a key the provider does not allow.
        Assert.Equal(DrtError.InvalidKey, Assert.Throws<DrtException>(() => Signed(provider, Record(owner, classifier: "scanner"))).Error);
    }
}
