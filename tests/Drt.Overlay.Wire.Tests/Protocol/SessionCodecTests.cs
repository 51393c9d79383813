using Drt.Overlay.Wire.Protocol;
using MessagePack;
using Xunit;

namespace Drt.Overlay.Wire.Tests.Protocol;

/// <summary>
/// Hello and HelloReply (the session handshake): fields survive, every fixed length is exact, the credential and padding
/// are capped, and the hello pays for its reply. Truncation, trailing bytes, bit flips and random bodies are covered for
/// both types by the theories over <see cref="WireSamples.Types"/>.
/// </summary>
public sealed class SessionCodecTests
{
    private static readonly byte[] s_credential = Filled(218, 0x11);
    private static readonly byte[] s_publicKey = Filled(32, 0x22);
    private static readonly byte[] s_ephemeral = Filled(32, 0x33);
    private static readonly byte[] s_proof = Filled(64, 0x44);

    [Fact]
    public void HelloAndReplyFieldsSurviveAndPointIntoTheDatagram()
    {
        byte[] datagram = WireSamples.Encode(new Hello(s_credential, s_publicKey, s_ephemeral, s_proof, 40), messageId: 9);
        Assert.Equal(DecodeStatus.Ok, WireCodec.TryDecode(datagram, WireSamples.Context, out WireHeader header, out Hello hello));
        Assert.Equal(9UL, header.MessageId);
        Assert.True(hello.Credential.Span.SequenceEqual(s_credential));
        Assert.True(hello.PublicKey.Span.SequenceEqual(s_publicKey));
        Assert.True(hello.EphemeralKey.Span.SequenceEqual(s_ephemeral));
        Assert.True(hello.Proof.Span.SequenceEqual(s_proof));
        Assert.Equal(40, hello.PaddingLength);
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(hello.Proof, out ArraySegment<byte> segment) && segment.Array == datagram);

        byte[] reply = WireSamples.Encode(new HelloReply(s_credential, s_publicKey, s_ephemeral, s_proof), messageId: 9);
        Assert.Equal(DecodeStatus.Ok, WireCodec.TryDecode(reply, WireSamples.Context, out _, out HelloReply decoded));
        Assert.True(decoded.Credential.Span.SequenceEqual(s_credential) && decoded.Proof.Span.SequenceEqual(s_proof));
    }

    [Fact]
    public void APaddedHelloIsNeverSmallerThanAReplyWithALongerLabel()
    {
        // Same credential sizes, or the responder's up to 64 bytes (a longer label) larger: the reply still fits.
        byte[] hello = WireSamples.Encode(new Hello(s_credential, s_publicKey, s_ephemeral, s_proof, WireLimits.MaxHelloPadding));
        byte[] longer = WireSamples.Encode(new HelloReply(Filled(255, 0x11), s_publicKey, s_ephemeral, s_proof));
        byte[] same = WireSamples.Encode(new HelloReply(s_credential, s_publicKey, s_ephemeral, s_proof));
        Assert.True(same.Length + WireLimits.MaxHelloPadding <= hello.Length);
        Assert.True(longer.Length <= hello.Length, $"hello {hello.Length} bytes, reply {longer.Length}");
        Assert.True(hello.Length + 25 <= WireLimits.DefaultMaxDatagram);
    }

    [Theory]
    [InlineData(0, 32, 32, 64, 0, "Malformed")]
    [InlineData(513, 32, 32, 64, 0, "TooLarge")]
    [InlineData(10, 31, 32, 64, 0, "Malformed")]
    [InlineData(10, 33, 32, 64, 0, "TooLarge")]
    [InlineData(10, 32, 0, 64, 0, "Malformed")]
    [InlineData(10, 32, 32, 63, 0, "Malformed")]
    [InlineData(10, 32, 32, 65, 0, "TooLarge")]
    [InlineData(10, 32, 32, 64, 65, "TooLarge")]
    public void WrongLengthsAreRefused(int credential, int publicKey, int ephemeral, int proof, int padding, string expectedName)
    {
        DecodeStatus expected = Enum.Parse<DecodeStatus>(expectedName);
        using var scratch = new PooledBufferWriter();
        byte[] body = Body((ref MessagePackWriter writer) =>
        {
            writer.WriteArrayHeader(6);
            writer.Write(new byte[credential]);
            writer.Write(new byte[publicKey]);
            writer.Write(new byte[ephemeral]);
            writer.Write(new byte[proof]);
            writer.Write(new byte[padding]);
            writer.WriteNil();
        });
        Assert.Equal(expected, WireSamples.DecodeAndReencode(WireSamples.WithHeader(MessageType.Hello, body), scratch));

        byte[] replyBody = Body((ref MessagePackWriter writer) =>
        {
            writer.WriteArrayHeader(4);
            writer.Write(new byte[credential]);
            writer.Write(new byte[publicKey]);
            writer.Write(new byte[ephemeral]);
            writer.Write(new byte[proof]);
        });
        DecodeStatus replyStatus = WireSamples.DecodeAndReencode(WireSamples.WithHeader(MessageType.HelloReply, replyBody), scratch);
        Assert.Equal(padding > WireLimits.MaxHelloPadding ? DecodeStatus.Ok : expected, replyStatus);
    }

    [Fact]
    public void AHelloCarriesItsCookieAndTheCookieAnswerIsSmallerThanAnyHello()
    {
        byte[] cookie = Filled(WireLimits.CookieLength, 0x55);
        byte[] datagram = WireSamples.Encode(new Hello(s_credential, s_publicKey, s_ephemeral, s_proof, WireLimits.MaxHelloPadding, cookie), messageId: 9);
        Assert.Equal(DecodeStatus.Ok, WireCodec.TryDecode(datagram, WireSamples.Context, out _, out Hello hello));
        Assert.True(hello.Cookie.Span.SequenceEqual(cookie));
        Assert.Equal(DecodeStatus.Ok, WireCodec.TryDecode(WireSamples.Encode(new Hello(s_credential, s_publicKey, s_ephemeral, s_proof, 0)), WireSamples.Context, out _, out hello));
        Assert.True(hello.Cookie.IsEmpty);

        // The cookie answer is smaller than the smallest hello (a one-byte credential, no padding): no amplification.
        byte[] answer = WireSamples.Encode(new HelloCookie(cookie), messageId: 9);
        byte[] smallest = WireSamples.Encode(new Hello(new byte[1], s_publicKey, s_ephemeral, s_proof, 0));
        Assert.True(answer.Length < smallest.Length, $"cookie answer {answer.Length} bytes, smallest hello {smallest.Length}");
        Assert.Equal(DecodeStatus.Ok, WireCodec.TryDecode(answer, WireSamples.Context, out _, out HelloCookie decoded));
        Assert.True(decoded.Cookie.Span.SequenceEqual(cookie));

        // A cookie of any other length is refused.
        Assert.Equal(DecodeStatus.Malformed, WireCodec.TryDecode(WireSamples.Encode(new HelloCookie(new byte[15])), WireSamples.Context, out _, out decoded));
        Assert.Equal(DecodeStatus.TooLarge, WireCodec.TryDecode(WireSamples.Encode(new Hello(s_credential, s_publicKey, s_ephemeral, s_proof, 0, new byte[17])), WireSamples.Context, out _, out hello));
    }

    [Fact]
    public void AHugeCredentialLengthIsRefusedBeforeUse()
    {
        using var scratch = new PooledBufferWriter();
        byte[] body = [0x96, 0xC6, 0xFF, 0xFF, 0xFF, 0xFF, 0xC0];
        Assert.Equal(DecodeStatus.TooLarge, WireSamples.DecodeAndReencode(WireSamples.WithHeader(MessageType.Hello, body), scratch));
        byte[] lying = [0x94, 0xC5, 0x01, 0x00, 0x01];
        Assert.Equal(DecodeStatus.Truncated, WireSamples.DecodeAndReencode(WireSamples.WithHeader(MessageType.HelloReply, lying), scratch));
    }

    private delegate void BodyWriter(ref MessagePackWriter writer);

    private static byte[] Body(BodyWriter write)
    {
        using var buffer = new PooledBufferWriter();
        var writer = new MessagePackWriter(buffer);
        write(ref writer);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] Filled(int length, byte value)
    {
        byte[] bytes = new byte[length];
        bytes.AsSpan().Fill(value);
        return bytes;
    }
}
