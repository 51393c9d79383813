using System.Net;
using Drt.Overlay.Wire.Fragmentation;
using Drt.Overlay.Wire.Protocol;
using Drt.Overlay.Wire.Tests.Protocol;
using Xunit;

namespace Drt.Overlay.Wire.Tests.Fragmentation;

public sealed class FragmentationTests
{
    private const int Max = WireLimits.DefaultMaxDatagram;
    private static readonly SocketAddress s_source = new IPEndPoint(IPAddress.Parse("127.0.0.2"), 3540).Serialize();
    private static readonly SocketAddress s_other = new IPEndPoint(IPAddress.Parse("127.0.0.3"), 3540).Serialize();

    /// <summary>An Authority carrying a record with 5,120 bytes of application data: DRT's largest registration.</summary>
    private static byte[] LargeAuthority(int seed, ulong messageId = 0x1234_5678_9ABC_DEF0)
    {
        var random = new Random(seed);
        SignedRecord record = WireSamples.Record(random) with { AppData = WireSamples.Bytes(random, WireLimits.MaxAppData) };
        var authority = new Authority(AuthorityFlags.None, record.Key, WireSamples.Bytes(random, WireLimits.NonceLength), record, default);
        return WireSamples.Encode(authority, messageId);
    }

    private static List<byte[]> Fragments(byte[] whole, int max = Max)
    {
        using var buffer = new PooledBufferWriter();
        var fragments = new List<byte[]>();
        for (int i = 0; i < Fragmenter.FragmentCount(whole.Length, max); i++)
        {
            fragments.Add(Fragmenter.Write(whole, i, max, buffer).ToArray());
        }

        return fragments;
    }

    private static ReassemblyResult Feed(Reassembler reassembler, byte[] fragmentDatagram, long now, out ReadOnlyMemory<byte> whole, SocketAddress? source = null)
    {
        Assert.Equal(DecodeStatus.Ok, WireCodec.TryDecode(fragmentDatagram, WireSamples.Context, out WireHeader header, out Fragment fragment));
        return reassembler.Accept(source ?? s_source, header.MessageId, fragment, now, out whole);
    }

    [Fact]
    public void ALargeRecordSplitsIntoDatagramsWithinTheCapAndDecodesWhenReassembled()
    {
        byte[] whole = LargeAuthority(1);
        List<byte[]> fragments = Fragments(whole);

        Assert.True(whole.Length > 5_120);
        Assert.Equal(Fragmenter.FragmentCount(whole.Length, Max), fragments.Count);
        Assert.All(fragments, f => Assert.InRange(f.Length, WireHeader.Size + 1, Max));
        Assert.All(fragments, f => Assert.Equal(whole[..WireHeader.TypeOffset], f[..WireHeader.TypeOffset]));

        using var reassembler = new Reassembler();
        ReadOnlyMemory<byte> result = default;
        for (int i = 0; i < fragments.Count; i++)
        {
            Assert.Equal(i == fragments.Count - 1 ? ReassemblyResult.Completed : ReassemblyResult.Stored, Feed(reassembler, fragments[i], now: i, out result));
        }

        Assert.Equal(whole, result.ToArray());
        Assert.Equal(DecodeStatus.Ok, WireCodec.TryDecode(result, WireSamples.Context, out WireHeader header, out Authority decoded));
        Assert.Equal(MessageType.Authority, header.Type);
        Assert.Equal(WireLimits.MaxAppData, decoded.Record!.Value.AppData.Length);
        Assert.Equal(0, reassembler.Active);
        Assert.Equal(0, reassembler.BufferedBytes);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void ShuffledAndDuplicatedFragmentsReassembleExactlyOnce(int seed)
    {
        var random = new Random(seed);
        byte[] whole = LargeAuthority(seed);
        List<byte[]> delivery = [.. Fragments(whole)];
        delivery.AddRange(delivery.Where(_ => random.Next(3) == 0).ToList()); // some twice
        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(delivery));

        using var reassembler = new Reassembler();
        int completed = 0;
        foreach (byte[] fragment in delivery)
        {
            ReassemblyResult result = Feed(reassembler, fragment, now: 10, out ReadOnlyMemory<byte> reassembled);
            if (result == ReassemblyResult.Completed)
            {
                completed++;
                Assert.True(whole.AsSpan().SequenceEqual(reassembled.Span), $"seed {seed}: reassembled bytes differ");
            }
            else
            {
                Assert.True(result is ReassemblyResult.Stored or ReassemblyResult.Duplicate, $"seed {seed}: {result}");
            }
        }

        // Duplicates after completion start a new reassembly that never completes: it only holds bytes until it expires.
        Assert.Equal(1, completed);
        Assert.Equal(1, reassembler.Completed);
        reassembler.Expire(10 + 1_000_000);
        Assert.Equal(0, reassembler.Active);
        Assert.Equal(0, reassembler.BufferedBytes);
    }

    [Fact]
    public void ALostFragmentNeverCompletesAndExpiryFreesItsBytes()
    {
        byte[] whole = LargeAuthority(5);
        List<byte[]> fragments = Fragments(whole);
        using var reassembler = new Reassembler();

        for (int i = 0; i < fragments.Count; i++)
        {
            if (i != 2)
            {
                Assert.Equal(ReassemblyResult.Stored, Feed(reassembler, fragments[i], now: 0, out _));
            }
        }

        Assert.Equal(1, reassembler.Active);
        Assert.Equal(whole.Length, reassembler.BufferedBytes);
        Assert.Equal(1_000_000, reassembler.NextExpiry);
        Assert.Equal(0, reassembler.Expire(999_999));
        Assert.Equal(1, reassembler.Expire(1_000_000));
        Assert.Equal(0, reassembler.BufferedBytes);
        Assert.Equal(long.MaxValue, reassembler.NextExpiry);

        // The sender retransmits the whole message: it goes through afresh.
        ReassemblyResult last = ReassemblyResult.Stored;
        foreach (byte[] fragment in fragments)
        {
            last = Feed(reassembler, fragment, now: 2_000_000, out _);
        }

        Assert.Equal(ReassemblyResult.Completed, last);
    }

    [Fact]
    public void OverlappingFragmentsWithDifferentBytesDropTheReassembly()
    {
        byte[] whole = LargeAuthority(6);
        List<byte[]> fragments = Fragments(whole);
        using var reassembler = new Reassembler();
        Assert.Equal(ReassemblyResult.Stored, Feed(reassembler, fragments[0], 0, out _));

        // Same range, one byte changed inside the chunk.
        byte[] forged = (byte[])fragments[0].Clone();
        forged[^10] ^= 0xFF;

        Assert.Equal(ReassemblyResult.Inconsistent, Feed(reassembler, forged, 0, out _));
        Assert.Equal(0, reassembler.Active);
        Assert.Equal(1, reassembler.Inconsistent);
    }

    [Fact]
    public void PartialOverlapWithMatchingBytesMergesAndMismatchIsRejected()
    {
        byte[] whole = LargeAuthority(7);
        ulong id = 0x1234_5678_9ABC_DEF0;
        using var reassembler = new Reassembler();

        // Hand-cut pieces: [0, 1000), [500, 1500) overlapping consistently, then the rest.
        Assert.Equal(ReassemblyResult.Stored, reassembler.Accept(s_source, id, new Fragment(whole.Length, 0, whole.AsMemory(0, 1000)), 0, out _));
        Assert.Equal(ReassemblyResult.Stored, reassembler.Accept(s_source, id, new Fragment(whole.Length, 500, whole.AsMemory(500, 1000)), 0, out _));
        Assert.Equal(ReassemblyResult.Duplicate, reassembler.Accept(s_source, id, new Fragment(whole.Length, 200, whole.AsMemory(200, 900)), 0, out _));
        Assert.Equal(ReassemblyResult.Completed, reassembler.Accept(s_source, id, new Fragment(whole.Length, 1500, whole.AsMemory(1500)), 0, out ReadOnlyMemory<byte> result));
        Assert.Equal(whole, result.ToArray());

        byte[] altered = (byte[])whole.Clone();
        altered[700] ^= 1;
        Assert.Equal(ReassemblyResult.Stored, reassembler.Accept(s_source, id, new Fragment(whole.Length, 0, whole.AsMemory(0, 1000)), 0, out _));
        Assert.Equal(ReassemblyResult.Inconsistent, reassembler.Accept(s_source, id, new Fragment(whole.Length, 500, altered.AsMemory(500, 1000)), 0, out _));
    }

    [Fact]
    public void AFragmentWithAnotherTotalDropsTheReassembly()
    {
        byte[] whole = LargeAuthority(8);
        using var reassembler = new Reassembler();
        ulong id = 77;

        Assert.Equal(ReassemblyResult.Stored, reassembler.Accept(s_source, id, new Fragment(whole.Length, 0, whole.AsMemory(0, 1000)), 0, out _));
        Assert.Equal(ReassemblyResult.Inconsistent, reassembler.Accept(s_source, id, new Fragment(whole.Length + 1, 1000, whole.AsMemory(1000, 1000)), 0, out _));
        Assert.Equal(0, reassembler.Active);
    }

    [Fact]
    public void AWholeWhoseHeaderDisagreesWithItsFragmentsIsRejected()
    {
        byte[] whole = LargeAuthority(9, messageId: 500);
        using var reassembler = new Reassembler();

        // Fragments claiming message id 501 for a whole whose header says 500.
        Assert.Equal(ReassemblyResult.Stored, reassembler.Accept(s_source, 501, new Fragment(whole.Length, 0, whole.AsMemory(0, 3000)), 0, out _));
        Assert.Equal(ReassemblyResult.Inconsistent, reassembler.Accept(s_source, 501, new Fragment(whole.Length, 3000, whole.AsMemory(3000)), 0, out _));

        // A whole that is itself a fragment.
        byte[] nested = (byte[])whole.Clone();
        nested[WireHeader.TypeOffset] = (byte)MessageType.Fragment;
        Assert.Equal(ReassemblyResult.Stored, reassembler.Accept(s_source, 500, new Fragment(nested.Length, 0, nested.AsMemory(0, 3000)), 0, out _));
        Assert.Equal(ReassemblyResult.Inconsistent, reassembler.Accept(s_source, 500, new Fragment(nested.Length, 3000, nested.AsMemory(3000)), 0, out _));
        Assert.Equal(2, reassembler.Inconsistent);
    }

    [Fact]
    public void SameMessageIdFromTwoSourcesIsTwoReassemblies()
    {
        byte[] whole = LargeAuthority(10);
        List<byte[]> fragments = Fragments(whole);
        using var reassembler = new Reassembler();

        Feed(reassembler, fragments[0], 0, out _, s_source);
        Feed(reassembler, fragments[0], 0, out _, s_other);

        Assert.Equal(2, reassembler.Active);
    }

    [Fact]
    public void AFloodOfBogusFragmentsStaysWithinEveryBoundAndAnHonestMessageStillGetsThrough()
    {
        const int Seed = 2026;
        var random = new Random(Seed);
        var limits = new ReassemblyLimits();
        using var reassembler = new Reassembler(limits);
        var sources = Enumerable.Range(0, 40).Select(i => new IPEndPoint(new IPAddress([127, 1, 0, (byte)(i + 1)]), 1000 + i).Serialize()).ToArray();
        byte[] chunk = new byte[1200];
        byte[] whole = LargeAuthority(11);
        List<byte[]> honest = Fragments(whole);
        int honestCompleted = 0;
        long now = 0;

        for (int i = 0; i < 100_000; i++)
        {
            now += random.Next(0, 20); // 100,000 fragments in about a second
            int total = random.Next(WireHeader.Size + 2, Fragment.MaxTotal + 1);
            int length = random.Next(1, Math.Min(chunk.Length, total - 1) + 1);
            int offset = random.Next(0, total - length + 1);
            random.NextBytes(chunk.AsSpan(0, length));
            var fragment = new Fragment(total, offset, chunk.AsMemory(0, length));
            reassembler.Accept(sources[random.Next(sources.Length)], (ulong)random.Next(1_000), fragment, now, out _);

            Assert.True(reassembler.Active <= limits.MaxReassemblies, $"seed {Seed}: {reassembler.Active} reassemblies");
            Assert.True(reassembler.BufferedBytes <= limits.MaxBufferedBytes, $"seed {Seed}: {reassembler.BufferedBytes} bytes buffered");

            // Every 5,000 bogus fragments an honest sender delivers its message back to back.
            if (i % 5_000 == 0)
            {
                foreach (byte[] datagram in honest)
                {
                    honestCompleted += Feed(reassembler, datagram, now, out _, s_other) == ReassemblyResult.Completed ? 1 : 0;
                }
            }
        }

        Assert.Equal(20, honestCompleted);
        Assert.True(reassembler.Evicted > 0, $"seed {Seed}: the flood never hit a bound");
        reassembler.Expire(now + limits.LifetimeMicros);
        Assert.Equal(0, reassembler.BufferedBytes);
    }

    [Fact]
    public void OneSourceCannotHoldMoreThanItsShare()
    {
        using var reassembler = new Reassembler();
        byte[] chunk = new byte[100];
        for (ulong id = 0; id < 50; id++)
        {
            reassembler.Accept(s_source, id, new Fragment(5_000, 0, chunk), (long)id, out _);
        }

        Assert.Equal(new ReassemblyLimits().MaxPerSource, reassembler.Active);
        Assert.Equal(50 - 8, reassembler.Evicted);
    }

    [Fact]
    public void TooManyPiecesDropTheReassembly()
    {
        using var reassembler = new Reassembler(new ReassemblyLimits { MaxFragmentsPerMessage = 4 });
        byte[] chunk = new byte[10];
        ReassemblyResult last = default;
        for (int i = 0; i < 5; i++)
        {
            last = reassembler.Accept(s_source, 1, new Fragment(1_000, i * 20, chunk), 0, out _); // gaps keep pieces apart
        }

        Assert.Equal(ReassemblyResult.TooManyFragments, last);
        Assert.Equal(0, reassembler.Active);
    }

    [Fact]
    public void FragmentBodiesAreValidatedBeforeUse()
    {
        byte[] whole = LargeAuthority(12);
        byte[] valid = Fragments(whole)[1];

        // Every truncation fails cleanly.
        for (int cut = WireHeader.Size; cut < valid.Length; cut++)
        {
            Assert.NotEqual(DecodeStatus.Ok, WireCodec.TryDecode(valid.AsMemory(0, cut), WireSamples.Context, out _, out Fragment _));
        }

        static DecodeStatus Decode(uint total, uint offset, int length)
        {
            using var buffer = new PooledBufferWriter();
            var writer = new MessagePack.MessagePackWriter(buffer);
            writer.WriteArrayHeader(3);
            writer.Write(total);
            writer.Write(offset);
            writer.Write(new byte[length]);
            writer.Flush();
            return WireCodec.TryDecode(WireSamples.WithHeader(MessageType.Fragment, buffer.WrittenSpan), WireSamples.Context, out _, out Fragment _);
        }

        Assert.Equal(DecodeStatus.Ok, Decode(5_000, 1_000, 1_000));
        Assert.Equal(DecodeStatus.TooLarge, Decode(Fragment.MaxTotal + 1, 0, 100));
        Assert.Equal(DecodeStatus.Malformed, Decode(5_000, 4_500, 1_000)); // past the end
        Assert.Equal(DecodeStatus.Malformed, Decode(500, 0, 500));         // the whole in one piece
        Assert.Equal(DecodeStatus.Malformed, Decode(10, 0, 5));            // shorter than a header
        Assert.NotEqual(DecodeStatus.Ok, Decode(5_000, 0, 0));              // empty chunk
        Assert.NotEqual(DecodeStatus.Ok, Decode(50_000, 0, 1_300));         // chunk over the cap

        var random = new Random(12);
        for (int i = 0; i < 20_000; i++)
        {
            byte[] mutated = (byte[])valid.Clone();
            mutated[random.Next(WireHeader.Size, mutated.Length)] ^= (byte)(1 << random.Next(8));
            DecodeStatus status = WireCodec.TryDecode(mutated, WireSamples.Context, out _, out Fragment _);
            Assert.True(Enum.IsDefined(status));
        }
    }

    [Fact]
    public void FragmentingAndReassemblingAllocatesNothingInSteadyState()
    {
        byte[] whole = LargeAuthority(13);
        using var buffer = new PooledBufferWriter();
        using var reassembler = new Reassembler();
        int count = Fragmenter.FragmentCount(whole.Length, Max);

        void RoundTrip()
        {
            for (int i = 0; i < count; i++)
            {
                Fragmenter.Write(whole, i, Max, buffer);
                WireCodec.TryDecode(buffer.WrittenMemory, WireSamples.Context, out WireHeader header, out Fragment fragment);
                reassembler.Accept(s_source, header.MessageId, fragment, 0, out _);
            }
        }

        for (int i = 0; i < 100; i++)
        {
            RoundTrip();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1_000; i++)
        {
            RoundTrip();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(1_100, reassembler.Completed);
    }
}
