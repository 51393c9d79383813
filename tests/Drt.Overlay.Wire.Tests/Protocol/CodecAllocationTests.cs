using Drt.Overlay.Wire.Protocol;
using Xunit;

namespace Drt.Overlay.Wire.Tests.Protocol;

/// <summary>0 bytes allocated per encode and per decode, for every message type (DESIGN §6).</summary>
public class CodecAllocationTests
{
    private const int Iterations = 5_000;

    [Theory]
    [MemberData(nameof(WireTheoryData.TypeData), MemberType = typeof(WireTheoryData))]
    public void EncodeAndDecodeAllocateNothing(string typeName)
    {
        MessageType type = WireSamples.Parse(typeName);
        byte[] datagram = WireSamples.RandomDatagram(type, new Random(1 + (int)type));
        using var buffer = new PooledBufferWriter(4096);

        // Warm up: JIT, tiering, the pooled buffer at its final size.
        for (int i = 0; i < 2_000; i++)
        {
            Assert.Equal(DecodeStatus.Ok, WireSamples.DecodeAndReencode(datagram, buffer));
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < Iterations; i++)
        {
            _ = WireSamples.DecodeAndReencode(datagram, buffer);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated == 0, $"{type}: {allocated} bytes over {Iterations} decode+encode rounds");
    }

    [Fact]
    public void EnumeratingDecodedListsAllocatesNothing()
    {
        byte[] datagram = WireSamples.Encode(new LeafSetReply(
            LeafSetReplyFlags.None, default, WireSamples.Many(new Random(3), 16, WireSamples.Entry), WireSamples.Many(new Random(4), 16, WireSamples.Entry)));
        Assert.Equal(DecodeStatus.Ok, WireCodec.TryDecode(datagram, WireSamples.Context, out _, out LeafSetReply reply));
        Span<RouteEntry> entries = stackalloc RouteEntry[16];
        int total = Count(reply, entries);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < Iterations; i++)
        {
            total += Count(reply, entries);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(total > 0);

        static int Count(in LeafSetReply reply, Span<RouteEntry> into)
        {
            int n = 0;
            foreach (RouteEntry entry in reply.Left)
            {
                n += entry.Endpoint.Port > 0 ? 1 : 0;
            }

            return n + reply.Right.CopyTo(into);
        }
    }

    [Fact]
    public void RefusingHostileInputAllocatesNothing()
    {
        var random = new Random(11);
        byte[][] mutants = new byte[64][];
        for (int i = 0; i < mutants.Length; i++)
        {
            byte[] datagram = WireSamples.RandomDatagram(WireSamples.Types[i % WireSamples.Types.Length], random);
            datagram[random.Next(WireHeader.Size, datagram.Length)] ^= 0x5A;
            mutants[i] = datagram;
        }

        using var buffer = new PooledBufferWriter(4096);
        foreach (byte[] mutant in mutants)
        {
            _ = WireSamples.DecodeAndReencode(mutant, buffer);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < Iterations; i++)
        {
            _ = WireSamples.DecodeAndReencode(mutants[i % mutants.Length], buffer);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
