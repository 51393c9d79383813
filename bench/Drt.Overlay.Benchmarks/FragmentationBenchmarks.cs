using System.Net;
using BenchmarkDotNet.Attributes;
using Drt.Overlay.Wire.Fragmentation;
using Drt.Overlay.Wire.Protocol;
using Drt.Overlay.Wire.Tests.Protocol;

namespace Drt.Overlay.Benchmarks;

/// <summary>
/// An Authority with a 5,120-byte record (DRT's largest registration) cut into fragments and put back together, against
/// the baseline of encoding the same message whole.
/// </summary>
[MemoryDiagnoser]
public class FragmentationBenchmarks
{
    private const int Max = WireLimits.DefaultMaxDatagram;
    private readonly PooledBufferWriter _buffer = new(WireLimits.MaxReassembledMessage + WireHeader.Size);
    private readonly PooledBufferWriter _fragment = new(Max);
    private readonly Reassembler _reassembler = new();
    private readonly SocketAddress _source = new IPEndPoint(IPAddress.Loopback, 3540).Serialize();
    private Authority _authority;
    private byte[] _whole = [];
    private int _count;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(5120);
        SignedRecord record = WireSamples.Record(random) with { AppData = WireSamples.Bytes(random, WireLimits.MaxAppData) };
        _authority = new Authority(AuthorityFlags.None, record.Key, WireSamples.Bytes(random, WireLimits.NonceLength), record, default);
        _whole = WireSamples.Encode(_authority, messageId: 7);
        _count = Fragmenter.FragmentCount(_whole.Length, Max);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _buffer.Dispose();
        _fragment.Dispose();
        _reassembler.Dispose();
    }

    /// <summary>Baseline: encode the 5 KB Authority in one piece.</summary>
    [Benchmark(Baseline = true)]
    public int EncodeWhole() => WireCodec.Encode(WireHeader.Create(WireSamples.Context, MessageType.Authority, 7), _authority, _buffer).Length;

    /// <summary>Cut the encoded whole into its fragments (5 for 5,120 bytes of data).</summary>
    [Benchmark]
    public int Fragment()
    {
        int bytes = 0;
        for (int i = 0; i < _count; i++)
        {
            bytes += Fragmenter.Write(_whole, i, Max, _fragment).Length;
        }

        return bytes;
    }

    /// <summary>Cut into fragments, decode each and reassemble the whole.</summary>
    [Benchmark]
    public int FragmentAndReassemble()
    {
        int length = 0;
        for (int i = 0; i < _count; i++)
        {
            Fragmenter.Write(_whole, i, Max, _fragment);
            WireCodec.TryDecode(_fragment.WrittenMemory, WireSamples.Context, out WireHeader header, out Fragment fragment);
            if (_reassembler.Accept(_source, header.MessageId, fragment, 0, out ReadOnlyMemory<byte> whole) == ReassemblyResult.Completed)
            {
                length = whole.Length;
            }
        }

        return length;
    }
}
