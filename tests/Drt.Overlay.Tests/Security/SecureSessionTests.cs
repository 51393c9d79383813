using Drt.Overlay.Security;
using Xunit;
using static Drt.Overlay.Tests.Security.SecurityTestKit;

namespace Drt.Overlay.Tests.Security;

/// <summary>Session keys and datagram protection: both directions, tamper, replay, direction, rotation, allocation.</summary>
public sealed class SecureSessionTests : IDisposable
{
    private const int HeaderLength = 20;

    private readonly DrtIdentity _root = Identity(100);
    private readonly DrtIdentity _a = Identity(1);
    private readonly DrtIdentity _b = Identity(2);

    public void Dispose()
    {
        _root.Dispose();
        _a.Dispose();
        _b.Dispose();
    }

    private DerivedKeySecurityProvider Provider(DrtIdentity identity, DrtSecurityMode mode)
    {
        DrtCredential credential = DrtCredential.Issue(_root, identity.PublicKey.Span, Now.AddDays(-1), Now.AddDays(1), "", NetworkId);
        return new DerivedKeySecurityProvider(mode, identity, NetworkId, _root.PublicKey, credential);
    }

    private (ISecureSession Initiator, ISecureSession Responder) Pair(DrtSecurityMode mode)
    {
        using ISessionHandshake initiator = Provider(_a, mode).BeginSession()!;
        using ISessionHandshake responder = Provider(_b, mode).BeginSession()!;
        ISecureSession i = initiator.Complete(responder.LocalEphemeralKey, _b.PublicKey.Span, isInitiator: true)!;
        ISecureSession r = responder.Complete(initiator.LocalEphemeralKey, _a.PublicKey.Span, isInitiator: false)!;
        Assert.NotNull(i);
        Assert.NotNull(r);
        return (i, r);
    }

    private static byte[] Datagram(string body, int overhead)
    {
        byte[] bytes = new byte[HeaderLength + System.Text.Encoding.UTF8.GetByteCount(body) + overhead];
        for (int i = 0; i < HeaderLength; i++)
        {
            bytes[i] = (byte)(0xA0 + i);
        }

        System.Text.Encoding.UTF8.GetBytes(body, bytes.AsSpan(HeaderLength));
        return bytes;
    }

    private static byte[] Seal(ISecureSession session, string body)
    {
        byte[] datagram = Datagram(body, session.Overhead);
        Assert.True(session.TrySeal(datagram, HeaderLength, datagram.Length - HeaderLength - session.Overhead, out int sealedLength));
        Assert.Equal(datagram.Length, sealedLength);
        return datagram;
    }

    private static SecureSessionStatus Open(ISecureSession session, byte[] datagram, out string body)
    {
        byte[] copy = (byte[])datagram.Clone();
        SecureSessionStatus status = session.TryOpen(copy, HeaderLength, out int length);
        body = status == SecureSessionStatus.Ok ? System.Text.Encoding.UTF8.GetString(copy, HeaderLength, length) : "";
        return status;
    }

    [Theory]
    [InlineData(DrtSecurityMode.Membership)]
    [InlineData(DrtSecurityMode.Confidential)]
    public void Both_directions_seal_and_open(DrtSecurityMode mode)
    {
        (ISecureSession i, ISecureSession r) = Pair(mode);
        using (i)
        using (r)
        {
            Assert.Equal(i.SessionId, r.SessionId);
            Assert.Equal(SecureSessionStatus.Ok, Open(r, Seal(i, "hello responder"), out string toResponder));
            Assert.Equal("hello responder", toResponder);
            Assert.Equal(SecureSessionStatus.Ok, Open(i, Seal(r, "hello initiator"), out string toInitiator));
            Assert.Equal("hello initiator", toInitiator);
            Assert.Equal(SecureSessionStatus.Ok, Open(r, Seal(i, ""), out string empty));
            Assert.Equal("", empty);
        }
    }

    [Theory]
    [InlineData(DrtSecurityMode.Membership)]
    [InlineData(DrtSecurityMode.Confidential)]
    public void Any_tampered_byte_fails(DrtSecurityMode mode)
    {
        (ISecureSession i, ISecureSession r) = Pair(mode);
        using (i)
        using (r)
        {
            byte[] datagram = Seal(i, "some body");

            // Header, body, epoch, counter and tag: each byte flipped alone (counter 1 flipped to 0 is never valid).
            for (int index = 0; index < datagram.Length; index++)
            {
                SecureSessionStatus status = Open(r, Flip(datagram, index), out _);
                Assert.True(status is SecureSessionStatus.AuthenticationFailed or SecureSessionStatus.UnknownEpoch or SecureSessionStatus.TooOld, $"byte {index}: {status}");
            }

            Assert.Equal(SecureSessionStatus.Truncated, Open(r, datagram.AsSpan(0, HeaderLength + 10).ToArray(), out _));
            Assert.Equal(SecureSessionStatus.Ok, Open(r, datagram, out _));
        }
    }

    [Fact]
    public void A_replayed_datagram_is_refused_and_reordering_within_the_window_is_not()
    {
        (ISecureSession i, ISecureSession r) = Pair(DrtSecurityMode.Membership);
        using (i)
        using (r)
        {
            byte[][] sent = Enumerable.Range(0, 5).Select(n => Seal(i, $"m{n}")).ToArray();
            Assert.Equal(SecureSessionStatus.Ok, Open(r, sent[4], out _));
            Assert.Equal(SecureSessionStatus.Ok, Open(r, sent[1], out _));
            Assert.Equal(SecureSessionStatus.Replayed, Open(r, sent[4], out _));
            Assert.Equal(SecureSessionStatus.Replayed, Open(r, sent[1], out _));
            Assert.Equal(SecureSessionStatus.Ok, Open(r, sent[0], out _));
        }
    }

    [Fact]
    public void Counters_beyond_the_window_are_too_old()
    {
        (ISecureSession i, ISecureSession r) = Pair(DrtSecurityMode.Membership);
        using (i)
        using (r)
        {
            byte[] first = Seal(i, "first");
            byte[] last = first;
            for (int n = 0; n < ReplayWindow.Size + 1; n++)
            {
                last = Seal(i, "x");
            }

            Assert.Equal(SecureSessionStatus.Ok, Open(r, last, out _));
            Assert.Equal(SecureSessionStatus.TooOld, Open(r, first, out _));
        }
    }

    [Fact]
    public void A_datagram_reflected_to_its_sender_fails()
    {
        (ISecureSession i, ISecureSession r) = Pair(DrtSecurityMode.Confidential);
        using (i)
        using (r)
        {
            Assert.Equal(SecureSessionStatus.AuthenticationFailed, Open(i, Seal(i, "to the responder"), out _));
        }
    }

    [Fact]
    public void Another_session_cannot_open_it()
    {
        (ISecureSession i, ISecureSession r) = Pair(DrtSecurityMode.Membership);
        (ISecureSession i2, ISecureSession r2) = Pair(DrtSecurityMode.Membership);
        using (i)
        using (r)
        using (i2)
        using (r2)
        {
            Assert.NotEqual(i.SessionId, i2.SessionId);
            Assert.Equal(SecureSessionStatus.AuthenticationFailed, Open(r2, Seal(i, "x"), out _));
        }
    }

    [Fact]
    public void Rotation_moves_to_a_new_key_and_keeps_the_previous_for_datagrams_in_flight()
    {
        (ISecureSession i, ISecureSession r) = Pair(DrtSecurityMode.Confidential);
        using (i)
        using (r)
        {
            byte[] inFlight = Seal(i, "old epoch");
            byte[] lateInFlight = Seal(i, "older still");
            Assert.Equal(SecureSessionStatus.Ok, Open(r, Seal(i, "epoch 0"), out _));
            i.RotateSendKey();
            Assert.Equal(1u, i.SendEpoch);
            byte[] rotated = Seal(i, "epoch 1");
            Assert.Equal(1, rotated[^25]);
            Assert.Equal(SecureSessionStatus.Ok, Open(r, rotated, out string body));
            Assert.Equal("epoch 1", body);
            Assert.Equal(SecureSessionStatus.Ok, Open(r, inFlight, out _));
            Assert.Equal(SecureSessionStatus.Replayed, Open(r, rotated, out _));

            // Two rotations later, epoch 0 is gone; an epoch that skips ahead is unknown.
            i.RotateSendKey();
            Assert.Equal(SecureSessionStatus.Ok, Open(r, Seal(i, "epoch 2"), out _));
            Assert.Equal(SecureSessionStatus.UnknownEpoch, Open(r, lateInFlight, out _));
            byte[] skipping = Seal(i, "x");
            skipping[^25] = 7;
            Assert.Equal(SecureSessionStatus.UnknownEpoch, Open(r, skipping, out _));

            // The other direction is unaffected.
            Assert.Equal(SecureSessionStatus.Ok, Open(i, Seal(r, "back"), out _));
        }
    }

    [Fact]
    public void Confidential_ciphertext_does_not_contain_the_plaintext_and_membership_does()
    {
        const string Secret = "the quick brown fox jumps over the lazy dog";
        (ISecureSession i, ISecureSession r) = Pair(DrtSecurityMode.Confidential);
        (ISecureSession mi, ISecureSession mr) = Pair(DrtSecurityMode.Membership);
        using (i)
        using (r)
        using (mi)
        using (mr)
        {
            byte[] secret = System.Text.Encoding.UTF8.GetBytes(Secret);
            byte[] encrypted = Seal(i, Secret);
            Assert.Equal(-1, encrypted.AsSpan().IndexOf(secret.AsSpan(0, 8)));
            Assert.True(encrypted.AsSpan(0, HeaderLength).SequenceEqual(Datagram("", 0)));

            byte[] authenticated = Seal(mi, Secret);
            Assert.Equal(HeaderLength, authenticated.AsSpan().IndexOf(secret));
        }
    }

    [Fact]
    public void A_low_order_or_malformed_peer_key_gives_no_session()
    {
        using ISessionHandshake handshake = Provider(_a, DrtSecurityMode.Membership).BeginSession()!;
        Assert.Null(handshake.Complete(new byte[32], _b.PublicKey.Span, isInitiator: true));
        Assert.Equal(DrtError.InvalidOperation, Assert.Throws<DrtException>(() => handshake.Complete(new byte[32], _b.PublicKey.Span, true)).Error);

        using ISessionHandshake other = Provider(_a, DrtSecurityMode.Membership).BeginSession()!;
        Assert.Null(other.Complete(new byte[31], _b.PublicKey.Span, isInitiator: true));
    }

    [Fact]
    public void Keys_bind_both_identities()
    {
        using ISessionHandshake initiator = Provider(_a, DrtSecurityMode.Membership).BeginSession()!;
        using ISessionHandshake responder = Provider(_b, DrtSecurityMode.Membership).BeginSession()!;

        // The responder believes it talks to someone else: the keys differ and nothing opens.
        using ISecureSession i = initiator.Complete(responder.LocalEphemeralKey, _b.PublicKey.Span, isInitiator: true)!;
        using ISecureSession r = responder.Complete(initiator.LocalEphemeralKey, _root.PublicKey.Span, isInitiator: false)!;
        Assert.Equal(SecureSessionStatus.AuthenticationFailed, Open(r, Seal(i, "x"), out _));
    }

    [Fact]
    public void Resolve_and_none_protect_no_datagrams()
    {
        Assert.Null(new DerivedKeySecurityProvider(DrtSecurityMode.Resolve, _a, NetworkId).BeginSession());
        Assert.Null(NullSecurityProvider.Instance.BeginSession());
    }

    [Theory]
    [InlineData(DrtSecurityMode.Membership)]
    [InlineData(DrtSecurityMode.Confidential)]
    public void Seal_and_open_of_512_bytes_allocate_nothing(DrtSecurityMode mode)
    {
        (ISecureSession i, ISecureSession r) = Pair(mode);
        using (i)
        using (r)
        {
            byte[] buffer = new byte[HeaderLength + 512 + i.Overhead];
            void RoundTrip()
            {
                Assert.True(i.TrySeal(buffer, HeaderLength, 512, out int sealedLength));
                SecureSessionStatus status = r.TryOpen(buffer.AsSpan(0, sealedLength), HeaderLength, out int bodyLength);
                if (status != SecureSessionStatus.Ok || bodyLength != 512)
                {
                    Assert.Fail($"open gave {status}, {bodyLength} bytes");
                }
            }

            for (int n = 0; n < 100; n++)
            {
                RoundTrip();
            }

            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int n = 0; n < 2000; n++)
            {
                RoundTrip();
            }

            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
    }
}
