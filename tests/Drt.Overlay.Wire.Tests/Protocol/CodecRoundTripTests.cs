using Drt.Overlay.Wire.Protocol;
using Xunit;

namespace Drt.Overlay.Wire.Tests.Protocol;

public class CodecRoundTripTests
{
    [Theory]
    [MemberData(nameof(WireTheoryData.TypeData), MemberType = typeof(WireTheoryData))]
    public void DecodeOfEncodeIsTheSameMessage(string typeName)
    {
        MessageType type = WireSamples.Parse(typeName);
        // Property: for random valid messages, decode(encode(m)) re-encodes to the very same bytes. Encoding is
        // deterministic, so equal bytes mean every field survived.
        const int Seed = 20261125;
        var random = new Random(Seed + (int)type);
        using var reencoded = new PooledBufferWriter();
        for (int i = 0; i < 300; i++)
        {
            byte[] datagram = WireSamples.RandomDatagram(type, random);
            DecodeStatus status = WireSamples.DecodeAndReencode(datagram, reencoded);
            Assert.True(status == DecodeStatus.Ok, $"{type} #{i} (seed {Seed}): {status}");
            Assert.True(datagram.AsSpan().SequenceEqual(reencoded.WrittenSpan), $"{type} #{i} (seed {Seed}) re-encoded differently");
        }
    }

    [Theory]
    [MemberData(nameof(WireTheoryData.TypeData), MemberType = typeof(WireTheoryData))]
    public void BodiesAreStandardMessagePack(string typeName)
    {
        // Our decoder indexes the datagram directly; MessagePack-CSharp's own reader is the oracle for the format.
        MessageType type = WireSamples.Parse(typeName);
        var random = new Random(77 + (int)type);
        for (int i = 0; i < 50; i++)
        {
            byte[] datagram = WireSamples.RandomDatagram(type, random);
            var reader = new MessagePack.MessagePackReader(datagram.AsMemory(WireHeader.Size));
            reader.Skip();
            Assert.True(reader.End, $"{type} #{i}: MessagePackReader saw one value of {reader.Consumed} bytes, the body has {datagram.Length - WireHeader.Size}");
        }
    }

    [Theory]
    [MemberData(nameof(WireTheoryData.TypeData), MemberType = typeof(WireTheoryData))]
    public void EveryMessageFitsTheDefaultDatagramExceptLargeRecords(string typeName)
    {
        MessageType type = WireSamples.Parse(typeName);
        var random = new Random(99);
        for (int i = 0; i < 100; i++)
        {
            byte[] datagram = WireSamples.RandomDatagram(type, random);
            // Records with 5 KB of data, and a full 16 + 16 leaf set, travel as fragments; everything else fits.
            if (type is not (MessageType.Authority or MessageType.Flood or MessageType.LeafSetReply))
            {
                Assert.True(datagram.Length <= WireLimits.DefaultMaxDatagram, $"{type} took {datagram.Length} bytes");
            }
        }
    }

    [Fact]
    public void WorstCaseRepliesOfDefaultSizeFitOneDatagram()
    {
        var random = new Random(8);
        RouteEntry V6Entry(Random r) => new(WireSamples.Key(r), WireEndpoint.FromIPEndPoint(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("fd00:d27::1"), 65535)));
        var reply = new LookupReply(LookupReplyFlags.Covering, Enumerable.Range(0, WireLimits.MaxReplyEntries).Select(_ => V6Entry(random)).ToArray());
        Assert.True(WireSamples.Encode(reply).Length <= WireLimits.DefaultMaxDatagram);

        // The default leaf set (8 per side) fits; 16 per side is fragmented.
        var leafSet = new LeafSetReply(LeafSetReplyFlags.None, default, Enumerable.Range(0, 8).Select(_ => V6Entry(random)).ToArray(), Enumerable.Range(0, 8).Select(_ => V6Entry(random)).ToArray());
        Assert.True(WireSamples.Encode(leafSet).Length <= WireLimits.DefaultMaxDatagram);

        var path = Enumerable.Range(0, WireLimits.MaxPath).Select(_ => V6Entry(random).Endpoint).ToArray();
        var lookup = new Lookup(LookupFlags.Registration, LookupKind.Nearest, default, default, Key256.MaxValue, WireLimits.MaxReplyEntries, default, V6Entry(random), path);
        Assert.True(WireSamples.Encode(lookup).Length <= WireLimits.DefaultMaxDatagram);
    }

    [Fact]
    public void LookupFieldsSurvive()
    {
        var random = new Random(5);
        Lookup sent = WireSamples.Lookup(random);
        byte[] datagram = WireSamples.Encode(sent, messageId: 0xFEEDFACECAFEBEEF);

        Assert.Equal(DecodeStatus.Ok, WireCodec.TryDecode(datagram, WireSamples.Context, out WireHeader header, out Lookup got));
        Assert.Equal(MessageType.Lookup, header.Type);
        Assert.Equal(0xFEEDFACECAFEBEEFUL, header.MessageId);
        Assert.Equal(WireSamples.Context.AppMinor, header.AppMinor);
        Assert.Equal(sent.Flags, got.Flags);
        Assert.Equal(sent.Kind, got.Kind);
        Assert.Equal(sent.Target, got.Target);
        Assert.Equal(sent.Min, got.Min);
        Assert.Equal(sent.Max, got.Max);
        Assert.Equal(sent.Want, got.Want);
        Assert.Equal(sent.ValidateKey, got.ValidateKey);
        Assert.Equal(sent.Sender, got.Sender);
        Assert.Equal(sent.Path.Count, got.Path.Count);
        var sentPath = new WireEndpoint[sent.Path.Count];
        var gotPath = new WireEndpoint[got.Path.Count];
        sent.Path.CopyTo(sentPath);
        got.Path.CopyTo(gotPath);
        Assert.Equal(sentPath, gotPath);
    }

    [Fact]
    public void InquireCarriesTheSearcherExchangeKeyOrNil()
    {
        var random = new Random(8);
        var sent = new Inquire(InquireFlags.WantRecord | InquireFlags.WantAppData, WireSamples.Key(random), WireSamples.Bytes(random, 16), WireSamples.Bytes(random, 32));
        Assert.Equal(DecodeStatus.Ok, WireCodec.TryDecode(WireSamples.Encode(sent), WireSamples.Context, out _, out Inquire got));
        Assert.Equal(sent.Flags, got.Flags);
        Assert.Equal(sent.ValidateKey, got.ValidateKey);
        Assert.True(sent.Nonce.Span.SequenceEqual(got.Nonce.Span));
        Assert.True(sent.SearcherExchangeKey.Span.SequenceEqual(got.SearcherExchangeKey.Span));

        // Mode None: no searcher identity, written as nil.
        Assert.Equal(DecodeStatus.Ok, WireCodec.TryDecode(WireSamples.Encode(sent with { SearcherExchangeKey = default }), WireSamples.Context, out _, out got));
        Assert.True(got.SearcherExchangeKey.IsEmpty);
    }

    [Fact]
    public void AnAuthorityProofIsAsLongAsItsKindSays()
    {
        var random = new Random(9);
        var mac = new Authority(AuthorityFlags.MacProof, WireSamples.Key(random), WireSamples.Bytes(random, 16), null, WireSamples.Bytes(random, WireLimits.MacProofLength));
        Assert.Equal(DecodeStatus.Ok, WireCodec.TryDecode(WireSamples.Encode(mac), WireSamples.Context, out _, out Authority got));
        Assert.Equal(AuthorityFlags.MacProof, got.Flags);
        Assert.True(mac.Proof.Span.SequenceEqual(got.Proof.Span));

        // A signature under the MAC flag (too large for a MAC), or a MAC without it (too short for a signature), is refused.
        Assert.Equal(DecodeStatus.TooLarge, WireCodec.TryDecode(WireSamples.Encode(mac with { Proof = WireSamples.Bytes(random, WireLimits.SignatureLength) }), WireSamples.Context, out _, out got));
        Assert.Equal(DecodeStatus.Malformed, WireCodec.TryDecode(WireSamples.Encode(mac with { Flags = AuthorityFlags.None }), WireSamples.Context, out _, out got));
    }

    [Fact]
    public void AuthorityWithFullRecordSurvivesAndPointsIntoTheDatagram()
    {
        var random = new Random(6);
        byte[] appData = WireSamples.Bytes(random, WireLimits.MaxAppData);
        var record = new SignedRecord(
            WireSamples.Key(random), WireSamples.Bytes(random, 32), WireSamples.Bytes(random, 32), "chat"u8.ToArray(), new[] { WireSamples.Endpoint(random), WireSamples.Endpoint(random) },
            appData, 17, 1_900_000_000, RecordFlags.None, WireSamples.Bytes(random, 64));
        var sent = new Authority(AuthorityFlags.None, record.Key, WireSamples.Bytes(random, 16), record, WireSamples.Bytes(random, 64));
        byte[] datagram = WireSamples.Encode(sent);

        Assert.True(datagram.Length > WireLimits.DefaultMaxDatagram, "a 5 KB record needs fragments");
        Assert.Equal(DecodeStatus.Ok, WireCodec.TryDecode(datagram, WireSamples.Context, out _, out Authority got));
        SignedRecord gotRecord = Assert.NotNull(got.Record);
        Assert.Equal(record.Key, gotRecord.Key);
        Assert.True(appData.AsSpan().SequenceEqual(gotRecord.AppData.Span));
        Assert.True(record.PublicKey.Span.SequenceEqual(gotRecord.PublicKey.Span));
        Assert.True(record.ExchangeKey.Span.SequenceEqual(gotRecord.ExchangeKey.Span));
        Assert.True("chat"u8.SequenceEqual(gotRecord.Classifier.Span));
        Assert.Equal(2, gotRecord.Endpoints.Count);
        Assert.Equal(17UL, gotRecord.Sequence);
        Assert.Equal(1_900_000_000UL, gotRecord.ExpiresUnixSeconds);
        Assert.True(sent.Proof.Span.SequenceEqual(got.Proof.Span));

        // Decoded byte fields are slices of the datagram, not copies.
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(gotRecord.AppData, out ArraySegment<byte> segment));
        Assert.Same(datagram, segment.Array);
    }

    [Fact]
    public void EndpointsOfBothFamiliesRoundTripThroughSocketAddresses()
    {
        var v4 = new System.Net.IPEndPoint(System.Net.IPAddress.Parse("127.0.0.9"), 3540);
        var v6 = new System.Net.IPEndPoint(System.Net.IPAddress.Parse("fd00:d27::5"), 3541);
        var mapped = new System.Net.IPEndPoint(System.Net.IPAddress.Parse("::ffff:127.0.0.9"), 3540);

        Assert.Equal(v4, WireEndpoint.FromIPEndPoint(v4).ToIPEndPoint());
        Assert.Equal(v6, WireEndpoint.FromIPEndPoint(v6).ToIPEndPoint());
        Assert.Equal(WireEndpoint.FromIPEndPoint(v4), WireEndpoint.FromIPEndPoint(mapped));

        Assert.True(WireEndpoint.TryFromSocketAddress(mapped.Serialize(), out WireEndpoint fromMapped));
        Assert.False(fromMapped.IsIPv6);
        Assert.Equal(v4, fromMapped.ToIPEndPoint());

        var address = new System.Net.SocketAddress(System.Net.Sockets.AddressFamily.InterNetworkV6);
        WireEndpoint.FromIPEndPoint(v4).WriteTo(address);
        Assert.Equal(mapped, (System.Net.IPEndPoint)new System.Net.IPEndPoint(System.Net.IPAddress.IPv6Any, 0).Create(address));
        WireEndpoint.FromIPEndPoint(v6).WriteTo(address);
        Assert.Equal(v6, (System.Net.IPEndPoint)new System.Net.IPEndPoint(System.Net.IPAddress.IPv6Any, 0).Create(address));
    }
}
