using Drt.Overlay.Security;
using Xunit;
using static Drt.Overlay.Tests.Security.SecurityTestKit;

namespace Drt.Overlay.Tests.Security;

/// <summary>Membership credentials: issue, check against root and time, encodings, and the provider's use of them.</summary>
public sealed class CredentialTests : IDisposable
{
    private static readonly DateTimeOffset s_notBefore = Now.AddDays(-1);
    private static readonly DateTimeOffset s_notAfter = Now.AddDays(30);

    private readonly DrtIdentity _root = Identity(100);
    private readonly DrtIdentity _otherRoot = Identity(101);
    private readonly DrtIdentity _member = Identity(1);

    public void Dispose()
    {
        _root.Dispose();
        _otherRoot.Dispose();
        _member.Dispose();
    }

    private DrtCredential Issue(string label = "node-1") => DrtCredential.Issue(_root, _member.PublicKey.Span, s_notBefore, s_notAfter, label, NetworkId);

    [Fact]
    public void A_valid_credential_checks()
    {
        DrtCredential credential = Issue();
        Assert.Equal(DrtCredentialStatus.Valid, credential.Check(_root.PublicKey.Span, NetworkId, Now));
        Assert.Equal("node-1", credential.Label);
        Assert.Equal(_member.PublicKey.ToArray(), credential.MemberPublicKey.ToArray());
        Assert.Equal(DrtCredentialStatus.Valid, credential.Check(_root.PublicKey.Span, NetworkId, s_notBefore));
    }

    [Fact]
    public void Time_window_is_not_before_inclusive_to_not_after_exclusive()
    {
        DrtCredential credential = Issue();
        Assert.Equal(DrtCredentialStatus.Valid, credential.Check(_root.PublicKey.Span, NetworkId, s_notAfter.AddSeconds(-1)));
        Assert.Equal(DrtCredentialStatus.Expired, credential.Check(_root.PublicKey.Span, NetworkId, s_notAfter));
        Assert.Equal(DrtCredentialStatus.NotYetValid, credential.Check(_root.PublicKey.Span, NetworkId, s_notBefore.AddSeconds(-1)));
    }

    [Fact]
    public void Wrong_root_and_wrong_network_are_refused()
    {
        DrtCredential credential = Issue();
        Assert.Equal(DrtCredentialStatus.WrongRoot, credential.Check(_otherRoot.PublicKey.Span, NetworkId, Now));
        Assert.Equal(DrtCredentialStatus.WrongNetwork, credential.Check(_root.PublicKey.Span, NetworkId + 1, Now));

        // Signed by another root that put our root's public key in the credential: the signature fails.
        byte[] bytes = DrtCredential.Issue(_otherRoot, _member.PublicKey.Span, s_notBefore, s_notAfter, "x", NetworkId).ToBytes();
        _root.PublicKey.Span.CopyTo(bytes.AsSpan(9));
        Assert.True(DrtCredential.TryParse(bytes, out DrtCredential? forged));
        Assert.Equal(DrtCredentialStatus.BadSignature, forged.Check(_root.PublicKey.Span, NetworkId, Now));
    }

    [Fact]
    public void A_tampered_label_or_validity_is_refused()
    {
        byte[] bytes = Issue("node-1").ToBytes();
        bytes[90 + 5] = (byte)'2'; // the label's last character
        Assert.True(DrtCredential.TryParse(bytes, out DrtCredential? tampered));
        Assert.Equal("node-2", tampered.Label);
        Assert.Equal(DrtCredentialStatus.BadSignature, tampered.Check(_root.PublicKey.Span, NetworkId, Now));

        byte[] longer = Issue().ToBytes();
        longer[81 + 6] ^= 0x01; // not-after, a low byte: still in the future
        Assert.True(DrtCredential.TryParse(longer, out DrtCredential? extended));
        Assert.Equal(DrtCredentialStatus.BadSignature, extended.Check(_root.PublicKey.Span, NetworkId, Now));
    }

    [Fact]
    public void Truncated_and_garbage_input_is_malformed_and_never_throws()
    {
        byte[] bytes = Issue().ToBytes();
        for (int length = 0; length < bytes.Length; length++)
        {
            Assert.False(DrtCredential.TryParse(bytes.AsSpan(0, length), out _));
            Assert.Equal(DrtCredentialStatus.Malformed, DrtCredential.Check(bytes.AsSpan(0, length), _root.PublicKey.Span, NetworkId, Now, default));
        }

        var random = new Random(5);
        for (int i = 0; i < 200; i++)
        {
            byte[] junk = new byte[random.Next(0, 300)];
            random.NextBytes(junk);
            Assert.False(DrtCredential.TryParse(junk, out _));
        }

        Assert.False(DrtCredential.TryParseText("-----BEGIN DRT CREDENTIAL-----\n!!!\n-----END DRT CREDENTIAL-----", out _));
        Assert.False(DrtCredential.TryParseText(Issue().ToText().Replace("DRT CREDENTIAL", "PRIVATE KEY", StringComparison.Ordinal), out _));
    }

    [Fact]
    public void Binary_and_text_round_trips()
    {
        DrtCredential credential = Issue("ünïcode label");
        Assert.True(DrtCredential.TryParse(credential.ToBytes(), out DrtCredential? fromBytes));
        Assert.Equal(credential.ToBytes(), fromBytes.ToBytes());
        Assert.Equal(credential.NotAfter, fromBytes.NotAfter);

        string text = credential.ToText();
        Assert.StartsWith("-----BEGIN DRT CREDENTIAL-----", text);
        Assert.True(DrtCredential.TryParseText(text, out DrtCredential? fromText));
        Assert.Equal(credential.ToBytes(), fromText.ToBytes());
        Assert.Equal(DrtCredentialStatus.Valid, fromText.Check(_root.PublicKey.Span, NetworkId, Now));
    }

    [Fact]
    public void Issuing_misuse_throws_with_a_message()
    {
        Assert.Equal(DrtError.InvalidArgument, Assert.Throws<DrtException>(() => DrtCredential.Issue(_root, new byte[31], s_notBefore, s_notAfter, "", NetworkId)).Error);
        Assert.Equal(DrtError.InvalidArgument, Assert.Throws<DrtException>(() => DrtCredential.Issue(_root, _member.PublicKey.Span, s_notAfter, s_notBefore, "", NetworkId)).Error);
        Assert.Equal(DrtError.InvalidArgument, Assert.Throws<DrtException>(() => DrtCredential.Issue(_root, _member.PublicKey.Span, s_notBefore, s_notAfter, new string('x', 65), NetworkId)).Error);
    }

    [Fact]
    public void The_provider_checks_peer_credentials_and_its_own()
    {
        using DrtIdentity peer = Identity(2);
        DrtCredential own = Issue();
        var provider = new DerivedKeySecurityProvider(DrtSecurityMode.Membership, _member, NetworkId, _root.PublicKey, own);
        Assert.Equal(own.ToBytes(), provider.LocalCredential.ToArray());

        byte[] peerCredential = DrtCredential.Issue(_root, peer.PublicKey.Span, s_notBefore, s_notAfter, "peer", NetworkId).ToBytes();
        Assert.Equal(DrtCredentialStatus.Valid, provider.CheckCredential(peerCredential, peer.PublicKey.Span, Now));
        Assert.Equal(DrtCredentialStatus.WrongMember, provider.CheckCredential(peerCredential, _member.PublicKey.Span, Now));
        Assert.Equal(DrtCredentialStatus.Expired, provider.CheckCredential(peerCredential, peer.PublicKey.Span, s_notAfter));
        Assert.Equal(DrtCredentialStatus.Malformed, provider.CheckCredential(peerCredential.AsSpan(0, 40), peer.PublicKey.Span, Now));

        // Misconfiguration: a credential for another identity or root, or none at all.
        Assert.Equal(DrtError.InvalidCredential, Assert.Throws<DrtException>(() => new DerivedKeySecurityProvider(DrtSecurityMode.Membership, peer, NetworkId, _root.PublicKey, own)).Error);
        Assert.Equal(DrtError.InvalidCredential, Assert.Throws<DrtException>(() => new DerivedKeySecurityProvider(DrtSecurityMode.Membership, _member, NetworkId, _otherRoot.PublicKey, own)).Error);
        Assert.Equal(DrtError.InvalidCredential, Assert.Throws<DrtException>(() => new DerivedKeySecurityProvider(DrtSecurityMode.Membership, _member, NetworkId + 1, _root.PublicKey, own)).Error);
        Assert.Equal(DrtError.InvalidSettings, Assert.Throws<DrtException>(() => new DerivedKeySecurityProvider(DrtSecurityMode.Confidential, _member, NetworkId)).Error);
        Assert.Equal(DrtError.InvalidSettings, Assert.Throws<DrtException>(() => new DerivedKeySecurityProvider(DrtSecurityMode.None, _member, NetworkId)).Error);
    }
}
