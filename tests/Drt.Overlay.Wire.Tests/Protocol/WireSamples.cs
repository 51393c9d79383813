using System.Buffers.Binary;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Wire.Tests.Protocol;

/// <summary>
/// Random, valid messages of every type, and a type-dispatching decoder for the property tests. The benchmarks link
/// this file too, so it stays free of xunit.
/// </summary>
internal static class WireSamples
{
    public static readonly WireContext Context = new(NetworkId: 0x00C0FFEE, AppMajor: 3, AppMinor: 7);

    /// <summary>Every message type with a body codec in this class.</summary>
    public static readonly MessageType[] Types =
    [
        MessageType.Ping, MessageType.Pong, MessageType.Solicit, MessageType.Advertise, MessageType.Request, MessageType.Ack,
        MessageType.Lookup, MessageType.LookupReply, MessageType.Inquire, MessageType.Authority, MessageType.Route,
        MessageType.RouteAck, MessageType.Flood, MessageType.LeafSetRequest, MessageType.LeafSetReply, MessageType.Error,
        MessageType.Hello, MessageType.HelloReply, MessageType.HelloCookie,
    ];

    public static MessageType Parse(string typeName) => Enum.Parse<MessageType>(typeName);

    public static Key256 Key(Random random) => Key256.Random(random);

    public static WireEndpoint Endpoint(Random random)
    {
        ushort port = (ushort)random.Next(1, 65536);
        if (random.Next(2) == 0)
        {
            return WireEndpoint.FromIPv4((uint)random.Next(1, int.MaxValue), port);
        }

        Span<byte> bytes = stackalloc byte[16];
        random.NextBytes(bytes);
        bytes[0] = 0xFD; // never zero, never IPv4-mapped
        return WireEndpoint.FromIPEndPoint(new System.Net.IPEndPoint(new System.Net.IPAddress(bytes), port));
    }

    public static RouteEntry Entry(Random random) => new(Key(random), Endpoint(random));

    public static byte[] Bytes(Random random, int length)
    {
        byte[] bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    public static T[] Many<T>(Random random, int max, Func<Random, T> create)
    {
        var items = new T[random.Next(0, max + 1)];
        for (int i = 0; i < items.Length; i++)
        {
            items[i] = create(random);
        }

        return items;
    }

    /// <summary>An authority of random flags: no proof, a signature, or (with the MAC flag) a MAC.</summary>
    public static Authority AuthoritySample(Random random)
    {
        var flags = (AuthorityFlags)random.Next(8);
        ReadOnlyMemory<byte> proof = random.Next(2) == 0
            ? default
            : Bytes(random, (flags & AuthorityFlags.MacProof) != 0 ? WireLimits.MacProofLength : WireLimits.SignatureLength);
        return new Authority(flags, Key(random), Bytes(random, 16), random.Next(3) == 0 ? null : Record(random), proof);
    }

    public static SignedRecord Record(Random random, int maxAppData = 600)
    {
        bool signed = random.Next(2) == 0;
        WireEndpoint[] endpoints = Many(random, WireLimits.MaxRecordEndpoints - 1, Endpoint);
        endpoints = [Endpoint(random), .. endpoints];
        return new SignedRecord(
            Key(random),
            signed ? Bytes(random, WireLimits.PublicKeyLength) : default,
            signed ? Bytes(random, WireLimits.ExchangeKeyLength) : default,
            Bytes(random, random.Next(0, 40)),
            endpoints,
            Bytes(random, random.Next(0, maxAppData + 1)),
            (ulong)random.NextInt64(),
            random.Next(2) == 0 ? 0 : (ulong)random.NextInt64(),
            (RecordFlags)random.Next(2),
            signed ? Bytes(random, WireLimits.SignatureLength) : default);
    }

    public static Lookup Lookup(Random random)
    {
        Key256 min = Key(random);
        Key256 max = Key(random);
        Key256 target = min + (max - min).Half(); // inside [min, max] going clockwise
        var kind = (LookupKind)random.Next(3);
        if (kind == LookupKind.Exact)
        {
            min = max = target;
        }

        return new Lookup(
            (LookupFlags)random.Next(8),
            kind,
            target,
            min,
            max,
            (byte)random.Next(1, WireLimits.MaxReplyEntries + 1),
            Key(random),
            random.Next(2) == 0 ? Entry(random) : null,
            Many(random, WireLimits.MaxPath, Endpoint));
    }

    /// <summary>Encodes a random valid datagram of <paramref name="type"/>.</summary>
    public static byte[] RandomDatagram(MessageType type, Random random)
    {
        ulong id = (ulong)random.NextInt64();
        return type switch
        {
            MessageType.Ping => Encode(new Ping((ulong)random.NextInt64()), id),
            MessageType.Pong => Encode(new Pong((ulong)random.NextInt64(), Endpoint(random)), id),
            MessageType.Solicit => Encode(new Solicit(Bytes(random, 32), random.Next(2) == 0 ? Entry(random) : null, random.Next(0, 300)), id),
            MessageType.Advertise => Encode(new Advertise(Bytes(random, 32), Many(random, WireLimits.MaxJoinKeys, r => new WireKey(Key(r)))), id),
            MessageType.Request => Encode(new Request(Bytes(random, 16), Many(random, WireLimits.MaxJoinKeys, r => new WireKey(Key(r)))), id),
            MessageType.Ack => Encode(new Ack((AckFlags)random.Next(2)), id),
            MessageType.Lookup => Encode(Lookup(random), id),
            MessageType.LookupReply => Encode(new LookupReply((LookupReplyFlags)random.Next(16), Many(random, WireLimits.MaxReplyEntries, Entry)), id),
            MessageType.Inquire => Encode(new Inquire((InquireFlags)random.Next(8), Key(random), Bytes(random, 16), random.Next(2) == 0 ? Bytes(random, 32) : default), id),
            MessageType.Authority => Encode(
                AuthoritySample(random),
                id),
            MessageType.Route => Encode(
                new Route((ulong)random.NextInt64(), Key(random), (byte)random.Next(256), (byte)random.Next(256), Endpoint(random), (ushort)random.Next(65536), Bytes(random, random.Next(0, WireLimits.MaxRoutePayload + 1))),
                id),
            MessageType.RouteAck => Encode(new RouteAck((RouteAckStatus)random.Next(5)), id),
            MessageType.Flood => Encode(
                new Flood((FloodFlags)random.Next(4), Key(random), Entry(random), random.Next(2) == 0 ? null : Record(random, 200), Many(random, WireLimits.MaxPath, Endpoint)),
                id),
            MessageType.LeafSetRequest => Encode(new LeafSetRequest(Key(random), random.Next(2) == 0 ? Entry(random) : null), id),
            MessageType.LeafSetReply => Encode(
                new LeafSetReply((LeafSetReplyFlags)random.Next(4), Key(random), Many(random, WireLimits.MaxLeafSetSide, Entry), Many(random, WireLimits.MaxLeafSetSide, Entry)),
                id),
            MessageType.Error => Encode(new Error((ErrorCode)random.Next(1, 6), (ushort)random.Next(65536)), id),
            MessageType.Hello => Encode(
                new Hello(Bytes(random, random.Next(1, 300)), Bytes(random, 32), Bytes(random, 32), Bytes(random, 64), random.Next(0, WireLimits.MaxHelloPadding + 1), random.Next(2) == 0 ? Bytes(random, WireLimits.CookieLength) : default),
                id),
            MessageType.HelloReply => Encode(new HelloReply(Bytes(random, random.Next(1, 300)), Bytes(random, 32), Bytes(random, 32), Bytes(random, 64)), id),
            MessageType.HelloCookie => Encode(new HelloCookie(Bytes(random, WireLimits.CookieLength)), id),
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, "no sample for this type"),
        };
    }

    public static byte[] Encode<T>(in T message, ulong messageId = 42)
        where T : struct, IWireMessage<T>
    {
        using var buffer = new PooledBufferWriter();
        return WireCodec.Encode(WireHeader.Create(Context, T.Type, messageId), message, buffer).ToArray();
    }

    /// <summary>
    /// Decodes any datagram by its header type and, when it decodes, encodes the decoded message again into
    /// <paramref name="reencoded"/> (so "decode(encode(m)) == m" becomes a byte comparison).
    /// </summary>
    public static DecodeStatus DecodeAndReencode(ReadOnlyMemory<byte> datagram, PooledBufferWriter reencoded)
    {
        reencoded.Reset();
        DecodeStatus status = WireHeader.TryRead(datagram.Span, Context, out WireHeader header);
        if (status != DecodeStatus.Ok)
        {
            return status;
        }

        return header.Type switch
        {
            MessageType.Ping => Round<Ping>(datagram, header, reencoded),
            MessageType.Pong => Round<Pong>(datagram, header, reencoded),
            MessageType.Solicit => Round<Solicit>(datagram, header, reencoded),
            MessageType.Advertise => Round<Advertise>(datagram, header, reencoded),
            MessageType.Request => Round<Request>(datagram, header, reencoded),
            MessageType.Ack => Round<Ack>(datagram, header, reencoded),
            MessageType.Lookup => Round<Lookup>(datagram, header, reencoded),
            MessageType.LookupReply => Round<LookupReply>(datagram, header, reencoded),
            MessageType.Inquire => Round<Inquire>(datagram, header, reencoded),
            MessageType.Authority => Round<Authority>(datagram, header, reencoded),
            MessageType.Route => Round<Route>(datagram, header, reencoded),
            MessageType.RouteAck => Round<RouteAck>(datagram, header, reencoded),
            MessageType.Flood => Round<Flood>(datagram, header, reencoded),
            MessageType.LeafSetRequest => Round<LeafSetRequest>(datagram, header, reencoded),
            MessageType.LeafSetReply => Round<LeafSetReply>(datagram, header, reencoded),
            MessageType.Error => Round<Error>(datagram, header, reencoded),
            MessageType.Hello => Round<Hello>(datagram, header, reencoded),
            MessageType.HelloReply => Round<HelloReply>(datagram, header, reencoded),
            MessageType.HelloCookie => Round<HelloCookie>(datagram, header, reencoded),
            _ => DecodeStatus.UnknownType,
        };
    }

    private static DecodeStatus Round<T>(ReadOnlyMemory<byte> datagram, in WireHeader header, PooledBufferWriter reencoded)
        where T : struct, IWireMessage<T>
    {
        DecodeStatus status = WireCodec.TryDecode(datagram, header, out T message);
        if (status == DecodeStatus.Ok)
        {
            WireCodec.Encode(header, message, reencoded);
        }

        return status;
    }

    /// <summary>Writes a header of <paramref name="type"/> followed by <paramref name="body"/>.</summary>
    public static byte[] WithHeader(MessageType type, ReadOnlySpan<byte> body)
    {
        byte[] datagram = new byte[WireHeader.Size + body.Length];
        WireHeader.Create(Context, type, 7).Write(datagram);
        body.CopyTo(datagram.AsSpan(WireHeader.Size));
        return datagram;
    }

    public static uint ReadNetworkId(ReadOnlySpan<byte> datagram) => BinaryPrimitives.ReadUInt32BigEndian(datagram[8..]);
}
