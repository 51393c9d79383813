using Drt.Overlay.Wire.Protocol;
using Xunit;

namespace Drt.Overlay.Wire.Tests.Protocol;

public class WireHeaderTests
{
    private static byte[] Valid() => WireSamples.Encode(new Ping(1));

    [Fact]
    public void HeaderRoundTrips()
    {
        var header = new WireHeader(MessageType.Flood, HeaderFlags.None, 0xDEADBEEF, 9, 200, ulong.MaxValue - 3);
        byte[] bytes = new byte[WireHeader.Size];
        header.Write(bytes);
        Assert.Equal(DecodeStatus.Ok, WireHeader.TryRead(bytes, new WireContext(0xDEADBEEF, 9, 0), out WireHeader read));
        Assert.Equal(header, read);
    }

    [Fact]
    public void SecurityModeRoundTripsAndMustMatch()
    {
        var resolve = new WireContext(0xDEADBEEF, 9, 0, SecurityMode: 1);
        byte[] bytes = new byte[WireHeader.Size];
        WireHeader.Create(resolve, MessageType.Inquire, 5).Write(bytes);
        Assert.Equal(1, bytes[WireHeader.SecurityModeOffset]);
        Assert.Equal(DecodeStatus.Ok, WireHeader.TryRead(bytes, resolve, out WireHeader read));
        Assert.Equal(1, read.SecurityMode);

        // A None node and a Resolve node of one network id refuse each other's datagrams at the header.
        Assert.Equal(DecodeStatus.WrongSecurityMode, WireHeader.TryRead(bytes, resolve with { SecurityMode = 0 }, out _));
        WireHeader.Create(resolve with { SecurityMode = 0 }, MessageType.Inquire, 5).Write(bytes);
        Assert.Equal(DecodeStatus.WrongSecurityMode, WireHeader.TryRead(bytes, resolve, out _));
    }

    [Fact]
    public void RejectsEachWrongFieldBeforeTheBody()
    {
        // The body is garbage in every case: the header alone decides.
        static DecodeStatus Read(byte[] datagram) => WireHeader.TryRead(datagram, WireSamples.Context, out _);

        byte[] d = Valid();
        d[0] = 0x00;
        Assert.Equal(DecodeStatus.BadMagic, Read(d));

        d = Valid();
        d[2] = WireHeader.ProtocolVersion + 1;
        Assert.Equal(DecodeStatus.UnsupportedVersion, Read(d));

        d = Valid();
        d[11] ^= 0x01;
        Assert.Equal(DecodeStatus.WrongNetwork, Read(d));

        d = Valid();
        d[3]++;
        Assert.Equal(DecodeStatus.IncompatibleApplication, Read(d));

        d = Valid();
        d[4]++; // a different minor version is compatible
        Assert.Equal(DecodeStatus.Ok, Read(d));

        d = Valid();
        d[5] = 0;
        Assert.Equal(DecodeStatus.UnknownType, Read(d));
        d[5] = 200;
        Assert.Equal(DecodeStatus.UnknownType, Read(d));

        // Byte 7 is the security mode: a node of another mode is refused at the header (WrongSecurityMode).
        d = Valid();
        d[7] = 1;
        Assert.Equal(DecodeStatus.WrongSecurityMode, Read(d));

        Assert.Equal(DecodeStatus.Truncated, Read(Valid()[..(WireHeader.Size - 1)]));
        Assert.Equal(DecodeStatus.BadMagic, Read([]));
        Assert.Equal(DecodeStatus.BadMagic, Read([0x44]));
    }

    [Fact]
    public void BodyOfAnotherTypeIsRefused()
    {
        byte[] ping = Valid();
        Assert.Equal(DecodeStatus.Ok, WireHeader.TryRead(ping, WireSamples.Context, out WireHeader header));
        Assert.Equal(DecodeStatus.WrongType, WireCodec.TryDecode(ping, header, out Pong _));
    }

    [Fact]
    public void EncodingWithAMismatchedHeaderIsABug()
    {
        using var buffer = new PooledBufferWriter();
        Assert.Throws<ArgumentException>(() =>
        {
            WireCodec.Encode(WireHeader.Create(WireSamples.Context, MessageType.Pong, 1), new Ping(1), buffer);
        });
    }
}
