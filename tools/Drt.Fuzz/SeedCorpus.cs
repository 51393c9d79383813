using System.Buffers.Binary;
using System.Net;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Fragmentation;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Fuzz;

/// <summary>
/// Seed inputs: one valid datagram of every message type (IPv4 and IPv6 entries, a signed record, padding), the
/// fragments of a large reply as datagrams, and the same fragments in the shape the target's reassembler path reads
/// (a message id, then fragment bodies). Seeded, so the corpus is the same on every run.
/// </summary>
internal static class SeedCorpus
{
    private static readonly WireContext s_context = new(NetworkId: 0x4452_5401, AppMajor: 1, AppMinor: 0);

    /// <summary>Writes the seeds into <paramref name="directory"/> (created if needed) and returns how many.</summary>
    public static int Write(string directory)
    {
        Directory.CreateDirectory(directory);
        var random = new Random(20_261_201);
        using var buffer = new PooledBufferWriter();
        int count = 0;
        void Save(string name, ReadOnlySpan<byte> bytes)
        {
            File.WriteAllBytes(Path.Combine(directory, name), bytes.ToArray());
            count++;
        }

        byte[] nonce = Bytes(random, WireLimits.NonceLength);
        byte[] hash = System.Security.Cryptography.SHA256.HashData(nonce);
        var v4 = WireEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse("192.0.2.7"), 3540));
        var v6 = WireEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse("2001:db8::7"), 3541));
        Key256 key = Key256.Random(random);
        var entry = new RouteEntry(key, v4);
        RouteEntry[] entries = [entry, new RouteEntry(Key256.Random(random), v6), new RouteEntry(Key256.Random(random), v4)];
        WireKey[] keys = [new WireKey(key), new WireKey(Key256.Random(random))];
        var record = new SignedRecord(key, Bytes(random, WireLimits.PublicKeyLength), Bytes(random, WireLimits.ExchangeKeyLength), Bytes(random, 8), new WireEndpoint[] { v4, v6 }, Bytes(random, 40), 3, 1_800_000_000, RecordFlags.None, Bytes(random, WireLimits.SignatureLength));

        Save("ping", Encode(new Ping(123_456_789), buffer));
        Save("pong-v6", Encode(new Pong(123_456_789, v6), buffer));
        Save("solicit", Encode(new Solicit(hash, entry, 64), buffer));
        Save("advertise", Encode(new Advertise(hash, new WireList<WireKey>(keys)), buffer));
        Save("request", Encode(new Request(nonce, new WireList<WireKey>(keys)), buffer));
        Save("ack", Encode(new Ack(AckFlags.None), buffer));
        Save("lookup", Encode(new Lookup(LookupFlags.None, LookupKind.Nearest, key, Key256.Zero, Key256.MaxValue, 20, key, entry, new WireEndpoint[] { v4, v6 }), buffer));
        Save("lookup-reply", Encode(new LookupReply(LookupReplyFlags.None, new WireList<RouteEntry>(entries)), buffer));
        Save("inquire", Encode(new Inquire(InquireFlags.WantRecord | InquireFlags.WantAppData, key, nonce, Bytes(random, WireLimits.ExchangeKeyLength)), buffer));
        Save("authority-record", Encode(new Authority(AuthorityFlags.None, key, nonce, record, Bytes(random, WireLimits.SignatureLength)), buffer));
        Save("authority-mac", Encode(new Authority(AuthorityFlags.MacProof, key, nonce, record, Bytes(random, WireLimits.MacProofLength)), buffer));
        Save("authority-bare", Encode(new Authority(AuthorityFlags.NotMine, key, nonce, null, default), buffer));
        Save("route", Encode(new Route(42, key, 32, 1, v6, 7, Bytes(random, 100)), buffer));
        Save("route-ack", Encode(new RouteAck(RouteAckStatus.Accepted), buffer));
        Save("flood", Encode(new Flood(FloodFlags.NoAck, key, entry, record, new WireEndpoint[] { v4 }), buffer));
        Save("leafset-request", Encode(new LeafSetRequest(key, entry), buffer));
        Save("leafset-reply", Encode(new LeafSetReply(LeafSetReplyFlags.None, key, new WireList<RouteEntry>(entries), new WireList<RouteEntry>(entries[..2])), buffer));
        Save("error", Encode(new Error(ErrorCode.Busy, 250), buffer));
        byte[] credential = Bytes(random, 160);
        Save("hello", Encode(new Hello(credential, Bytes(random, 32), Bytes(random, 32), Bytes(random, 64), WireLimits.MaxHelloPadding), buffer));
        Save("hello-cookie", Encode(new HelloCookie(Bytes(random, WireLimits.CookieLength)), buffer));
        Save("hello-with-cookie", Encode(new Hello(credential, Bytes(random, 32), Bytes(random, 32), Bytes(random, 64), 0, Bytes(random, WireLimits.CookieLength)), buffer));
        Save("hello-reply", Encode(new HelloReply(credential, Bytes(random, 32), Bytes(random, 32), Bytes(random, 64)), buffer));

        // A padded request, as a verification's inquire is sent to an address not yet proven.
        WireCodec.Encode(WireHeader.Create(s_context, MessageType.Inquire, 9), new Inquire(InquireFlags.None, key, nonce), buffer);
        Save("inquire-padded", WireCodec.Pad(buffer, 200));

        // A reply too large for one datagram: its fragments as datagrams, and as the reassembler path's input.
        RouteEntry[] many = new RouteEntry[40];
        for (int i = 0; i < many.Length; i++)
        {
            many[i] = new RouteEntry(Key256.Random(random), i % 2 == 0 ? v4 : v6);
        }

        byte[] whole = Encode(new LookupReply(LookupReplyFlags.None, new WireList<RouteEntry>(many)), buffer);
        const int MaxDatagram = 600;
        int fragments = Fragmenter.FragmentCount(whole.Length, MaxDatagram);
        using var stream = new MemoryStream();
        Span<byte> id = stackalloc byte[sizeof(ulong)];
        BinaryPrimitives.WriteUInt64BigEndian(id, 77);
        stream.Write(id);
        for (int i = 0; i < fragments; i++)
        {
            ReadOnlySpan<byte> fragment = Fragmenter.Write(whole, i, MaxDatagram, buffer);
            Save($"fragment-{i}", fragment);
            stream.Write(fragment[WireHeader.Size..]);
        }

        Save("fragments-all", stream.ToArray());
        return count;
    }

    private static byte[] Encode<T>(in T message, PooledBufferWriter buffer)
        where T : struct, IWireMessage<T>
        => WireCodec.Encode(WireHeader.Create(s_context, T.Type, 0x0102_0304_0506_0708), message, buffer).ToArray();

    private static byte[] Bytes(Random random, int length)
    {
        byte[] bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
