using BenchmarkDotNet.Attributes;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;
using Drt.Overlay.Wire.Tests.Protocol;

namespace Drt.Overlay.Benchmarks;

/// <summary>
/// Decode + re-encode of every message type (a random valid sample each, seeded): DESIGN §6 asks 0 B for every
/// codec operation.
/// </summary>
[MemoryDiagnoser]
public class CodecBenchmarks
{
    private readonly PooledBufferWriter _buffer = new(8192);
    private byte[] _datagram = [];

    /// <summary>The message type measured by <see cref="DecodeAndEncode"/>.</summary>
    [ParamsSource(nameof(TypeNames))]
    public string Type { get; set; } = nameof(MessageType.Lookup);

    public static IEnumerable<string> TypeNames()
    {
        foreach (MessageType type in WireSamples.Types)
        {
            yield return type.ToString();
        }
    }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(2026);
        _datagram = WireSamples.RandomDatagram(Enum.Parse<MessageType>(Type), random);
    }

    [GlobalCleanup]
    public void Cleanup() => _buffer.Dispose();

    /// <summary>Decode the sample, then encode it again (the decode + re-encode round of the property tests).</summary>
    [Benchmark]
    public int DecodeAndEncode() => WireSamples.DecodeAndReencode(_datagram, _buffer) == DecodeStatus.Ok ? _buffer.WrittenCount : -1;
}

/// <summary>The search request on its own: DESIGN §6 asks ≤ 150 ns for its encode + decode, 0 B.</summary>
[MemoryDiagnoser]
public class LookupCodecBenchmarks
{
    private readonly PooledBufferWriter _buffer = new(8192);
    private Lookup _lookup;
    private Lookup _registration;
    private byte[] _lookupDatagram = [];
    private WireHeader _lookupHeader;

    [GlobalSetup]
    public void Setup()
    {
        // A typical exact-search hop from a resolver: a path of 4 visited hops (registration lookups add the
        // sender's entry: see LookupWithSender).
        var random = new Random(2026);
        Key256 target = WireSamples.Key(random);
        WireEndpoint[] path = [WireSamples.Endpoint(random), WireSamples.Endpoint(random), WireSamples.Endpoint(random), WireSamples.Endpoint(random)];
        _lookup = new Lookup(LookupFlags.None, LookupKind.Exact, target, target, target, 1, WireSamples.Key(random), null, path);
        _registration = _lookup with { Flags = LookupFlags.Registration, Kind = LookupKind.Nearest, Min = target - Key256.One, Max = Key256.MaxValue, Sender = WireSamples.Entry(random) };
        _lookupHeader = WireHeader.Create(WireSamples.Context, MessageType.Lookup, 1);
        _lookupDatagram = WireSamples.Encode(_lookup);
    }

    [GlobalCleanup]
    public void Cleanup() => _buffer.Dispose();

    /// <summary>Encode of a search request (Lookup) into the pooled buffer.</summary>
    [Benchmark]
    public int LookupEncode() => WireCodec.Encode(_lookupHeader, _lookup, _buffer).Length;

    /// <summary>Header check and body decode of a search request, path validated.</summary>
    [Benchmark]
    public int LookupDecode()
    {
        DecodeStatus status = WireCodec.TryDecode(_lookupDatagram, WireSamples.Context, out _, out Lookup lookup);
        return status == DecodeStatus.Ok ? lookup.Path.Count : -1;
    }

    /// <summary>Encode + decode of a search request: the DESIGN §6 target (≤ 150 ns).</summary>
    [Benchmark(Baseline = true)]
    public int LookupEncodeDecode()
    {
        ReadOnlySpan<byte> encoded = WireCodec.Encode(_lookupHeader, _lookup, _buffer);
        DecodeStatus status = WireCodec.TryDecode(_buffer.WrittenMemory, WireSamples.Context, out _, out Lookup lookup);
        return status == DecodeStatus.Ok ? encoded.Length + lookup.Want : -1;
    }

    /// <summary>Encode + decode of a registration lookup: nearest over a range, with the sender's entry.</summary>
    [Benchmark]
    public int RegistrationLookupEncodeDecode()
    {
        ReadOnlySpan<byte> encoded = WireCodec.Encode(_lookupHeader, _registration, _buffer);
        DecodeStatus status = WireCodec.TryDecode(_buffer.WrittenMemory, WireSamples.Context, out _, out Lookup lookup);
        return status == DecodeStatus.Ok ? encoded.Length + lookup.Want : -1;
    }
}
