using System.Buffers.Binary;
using Drt.Overlay.Wire.Protocol;
using MessagePack;
using Xunit;

namespace Drt.Overlay.Wire.Tests.Protocol;

/// <summary>
/// Decoders face the open network: whatever arrives, they return a status and never throw. The decoding helper
/// used here re-encodes what decodes, so a "valid" mutant must also be a coherent message.
/// </summary>
public class CodecHostileInputTests
{
    private const int Seed = 4242;

    [Theory]
    [MemberData(nameof(WireTheoryData.TypeData), MemberType = typeof(WireTheoryData))]
    public void TruncationAtEveryOffsetIsRefused(string typeName)
    {
        MessageType type = WireSamples.Parse(typeName);
        var random = new Random(Seed + (int)type);
        using var scratch = new PooledBufferWriter();
        for (int sample = 0; sample < 10; sample++)
        {
            byte[] datagram = WireSamples.RandomDatagram(type, random);
            for (int length = 0; length < datagram.Length; length++)
            {
                DecodeStatus status = WireSamples.DecodeAndReencode(datagram.AsMemory(0, length), scratch);
                Assert.True(status != DecodeStatus.Ok, $"{type}: a prefix of {length}/{datagram.Length} bytes decoded (seed {Seed})");
            }
        }
    }

    [Theory]
    [MemberData(nameof(WireTheoryData.TypeData), MemberType = typeof(WireTheoryData))]
    public void TrailingBytesAreMalformed(string typeName)
    {
        MessageType type = WireSamples.Parse(typeName);
        byte[] datagram = WireSamples.RandomDatagram(type, new Random(Seed));
        byte[] longer = [.. datagram, 0x00];
        using var scratch = new PooledBufferWriter();
        Assert.Equal(DecodeStatus.Malformed, WireSamples.DecodeAndReencode(longer, scratch));
    }

    [Theory]
    [MemberData(nameof(WireTheoryData.TypeData), MemberType = typeof(WireTheoryData))]
    public void BitFlipsNeverThrow(string typeName)
    {
        MessageType type = WireSamples.Parse(typeName);
        var random = new Random(Seed + (int)type);
        using var scratch = new PooledBufferWriter();
        for (int sample = 0; sample < 20; sample++)
        {
            byte[] original = WireSamples.RandomDatagram(type, random);
            for (int flip = 0; flip < 200; flip++)
            {
                byte[] mutant = (byte[])original.Clone();
                int flips = random.Next(1, 4);
                for (int f = 0; f < flips; f++)
                {
                    // Keep the header intact most of the time so the body decoder is the one exercised.
                    int at = random.Next(10) == 0 ? random.Next(mutant.Length) : random.Next(WireHeader.Size, mutant.Length);
                    mutant[at] ^= (byte)(1 << random.Next(8));
                }

                _ = WireSamples.DecodeAndReencode(mutant, scratch); // must not throw
            }
        }
    }

    [Theory]
    [MemberData(nameof(WireTheoryData.TypeData), MemberType = typeof(WireTheoryData))]
    public void RandomBodiesNeverThrow(string typeName)
    {
        MessageType type = WireSamples.Parse(typeName);
        var random = new Random(Seed + (int)type);
        using var scratch = new PooledBufferWriter();
        byte[] body = new byte[256];
        for (int i = 0; i < 3000; i++)
        {
            int length = random.Next(0, body.Length);
            random.NextBytes(body.AsSpan(0, length));
            if (length > 0 && random.Next(2) == 0)
            {
                body[0] = (byte)(0x90 | random.Next(16)); // a plausible top-level array
            }

            _ = WireSamples.DecodeAndReencode(WireSamples.WithHeader(type, body.AsSpan(0, length)), scratch);
        }
    }

    [Fact]
    public void RandomDatagramsAreRefusedByTheHeader()
    {
        var random = new Random(Seed);
        using var scratch = new PooledBufferWriter();
        byte[] datagram = new byte[1500];
        for (int i = 0; i < 10_000; i++)
        {
            int length = random.Next(0, datagram.Length);
            random.NextBytes(datagram.AsSpan(0, length));
            DecodeStatus status = WireSamples.DecodeAndReencode(datagram.AsMemory(0, length), scratch);
            Assert.NotEqual(DecodeStatus.Ok, status);
        }
    }

    [Fact]
    public void HugeCountsAndLengthsAreRefusedBeforeUse()
    {
        using var scratch = new PooledBufferWriter();

        // LookupReply: [flags, entries] with an array32 count of 4 billion and nothing behind it.
        byte[] hugeArray = [0x92, 0x00, 0xDD, 0xFF, 0xFF, 0xFF, 0xFF];
        Assert.Equal(DecodeStatus.TooLarge, WireSamples.DecodeAndReencode(WireSamples.WithHeader(MessageType.LookupReply, hugeArray), scratch));

        // A count under our cap but beyond the bytes present: refused before the element loop.
        byte[] lyingArray = [0x92, 0x00, 0xDC, 0x00, 0x14];
        Assert.Equal(DecodeStatus.Truncated, WireSamples.DecodeAndReencode(WireSamples.WithHeader(MessageType.LookupReply, lyingArray), scratch));

        // Route payload announced as a 4 GB bin32.
        byte[] route = RouteBodyWithPayloadHeader([0xC6, 0xFF, 0xFF, 0xFF, 0xFF]);
        Assert.Equal(DecodeStatus.TooLarge, WireSamples.DecodeAndReencode(WireSamples.WithHeader(MessageType.Route, route), scratch));

        // ... and as a bin16 just over the cap.
        route = RouteBodyWithPayloadHeader([0xC5, 0x04, 0x01]);
        Assert.Equal(DecodeStatus.TooLarge, WireSamples.DecodeAndReencode(WireSamples.WithHeader(MessageType.Route, route), scratch));

        // A top-level array with the wrong number of fields.
        Assert.Equal(DecodeStatus.Malformed, WireSamples.DecodeAndReencode(WireSamples.WithHeader(MessageType.Ping, [0x92, 0x01, 0x02]), scratch));

        // A negative integer where an unsigned one belongs.
        Assert.Equal(DecodeStatus.Malformed, WireSamples.DecodeAndReencode(WireSamples.WithHeader(MessageType.Ping, [0x91, 0xFF]), scratch));

        // A lookup whose target lies outside [min, max].
        byte[] lookup = WireSamples.Encode(new Lookup(LookupFlags.None, LookupKind.Nearest, new Key256(0, 0, 0, 50), new Key256(0, 0, 0, 10), new Key256(0, 0, 0, 20), 1, default, null, Array.Empty<WireEndpoint>()));
        Assert.Equal(DecodeStatus.Malformed, WireSamples.DecodeAndReencode(lookup, scratch));
    }

    [Fact]
    public void ExactLookupsCarryNoBounds()
    {
        var target = new Key256(0, 0, 0, 50);
        var nearest = new Lookup(LookupFlags.None, LookupKind.Nearest, target, target, target, 1, default, null, Array.Empty<WireEndpoint>());
        byte[] datagram = WireSamples.Encode(nearest);
        int kindAt = WireHeader.Size + 2; // [array header, flags, kind, ...]
        Assert.Equal((byte)LookupKind.Nearest, datagram[kindAt]);

        // Relabelled as exact, its explicit bounds are not the canonical (nil) form.
        datagram[kindAt] = (byte)LookupKind.Exact;
        using var scratch = new PooledBufferWriter();
        Assert.Equal(DecodeStatus.Malformed, WireSamples.DecodeAndReencode(datagram, scratch));

        // Encoding an exact lookup whose bounds differ from its target is a caller bug.
        var wrong = nearest with { Kind = LookupKind.Exact, Max = target + Key256.One };
        Assert.Throws<InvalidOperationException>(() => WireSamples.Encode(wrong));
    }

    [Fact]
    public void InquireWithABadSearcherKeyOrTheOldLayoutIsRejected()
    {
        using var scratch = new PooledBufferWriter();
        byte[] nonce = new byte[16];

        // A searcher public key of any length but 32 (or nil) is refused.
        foreach (int length in new[] { 0, 31, 33, 64 })
        {
            byte[] body = InquireBody(4, nonce, new byte[length]);
            Assert.NotEqual(DecodeStatus.Ok, WireSamples.DecodeAndReencode(WireSamples.WithHeader(MessageType.Inquire, body), scratch));
        }

        // The three-field layout (no searcher key) and a fifth field are malformed: bodies have a fixed field count.
        Assert.NotEqual(DecodeStatus.Ok, WireSamples.DecodeAndReencode(WireSamples.WithHeader(MessageType.Inquire, InquireBody(3, nonce, null)), scratch));
        Assert.NotEqual(DecodeStatus.Ok, WireSamples.DecodeAndReencode(WireSamples.WithHeader(MessageType.Inquire, InquireBody(5, nonce, new byte[32])), scratch));
        Assert.Equal(DecodeStatus.Ok, WireSamples.DecodeAndReencode(WireSamples.WithHeader(MessageType.Inquire, InquireBody(4, nonce, new byte[32])), scratch));
    }

    private static byte[] InquireBody(int fields, byte[] nonce, byte[]? searcher)
    {
        var buffer = new PooledBufferWriter();
        try
        {
            var writer = new MessagePackWriter(buffer);
            writer.WriteArrayHeader(fields);
            writer.Write((byte)1);
            writer.Write(new byte[32]);
            writer.Write(nonce);
            if (fields >= 4)
            {
                writer.Write(searcher);
            }

            if (fields >= 5)
            {
                writer.WriteNil();
            }

            writer.Flush();
            return buffer.WrittenSpan.ToArray();
        }
        finally
        {
            buffer.Dispose();
        }
    }

    [Fact]
    public void EndpointsThatNameNobodyAreMalformed()
    {
        using var scratch = new PooledBufferWriter();
        byte[] zeroPort = PongBody([0x7F, 0x00, 0x00, 0x01, 0x00, 0x00]);
        Assert.Equal(DecodeStatus.Malformed, WireSamples.DecodeAndReencode(WireSamples.WithHeader(MessageType.Pong, zeroPort), scratch));

        byte[] unspecified = PongBody([0x00, 0x00, 0x00, 0x00, 0x0D, 0xD4]);
        Assert.Equal(DecodeStatus.Malformed, WireSamples.DecodeAndReencode(WireSamples.WithHeader(MessageType.Pong, unspecified), scratch));

        byte[] mapped = new byte[18];
        mapped[10] = 0xFF;
        mapped[11] = 0xFF;
        mapped[12] = 127;
        mapped[15] = 1;
        mapped[17] = 80;
        Assert.Equal(DecodeStatus.Malformed, WireSamples.DecodeAndReencode(WireSamples.WithHeader(MessageType.Pong, PongBody(mapped)), scratch));

        byte[] oddLength = PongBody([1, 2, 3, 4, 5, 6, 7]);
        Assert.Equal(DecodeStatus.Malformed, WireSamples.DecodeAndReencode(WireSamples.WithHeader(MessageType.Pong, oddLength), scratch));
    }

    private static byte[] PongBody(byte[] endpoint)
    {
        var buffer = new PooledBufferWriter();
        try
        {
            var writer = new MessagePackWriter(buffer);
            writer.WriteArrayHeader(2);
            writer.Write(5UL);
            writer.Write(endpoint);
            writer.Flush();
            return buffer.WrittenSpan.ToArray();
        }
        finally
        {
            buffer.Dispose();
        }
    }

    private static byte[] RouteBodyWithPayloadHeader(byte[] payloadHeader)
    {
        var buffer = new PooledBufferWriter();
        try
        {
            var writer = new MessagePackWriter(buffer);
            writer.WriteArrayHeader(7);
            writer.Write(1UL);
            WireWriter.WriteKey(ref writer, new Key256(1, 2, 3, 4));
            writer.Write((byte)5);
            writer.Write((byte)0);
            WireEndpoint.FromIPv4(0x7F000001, 3540).Write(ref writer);
            writer.Write((ushort)1);
            writer.WriteRaw(payloadHeader);
            writer.Flush();
            byte[] body = buffer.WrittenSpan.ToArray();
            Assert.Equal(0xFF, body[^1] | 0xFF);
            _ = BinaryPrimitives.ReadUInt16BigEndian(body.AsSpan(1));
            return body;
        }
        finally
        {
            buffer.Dispose();
        }
    }
}
