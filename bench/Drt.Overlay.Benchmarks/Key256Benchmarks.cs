using BenchmarkDotNet.Attributes;
using Drt.Overlay.Wire;

namespace Drt.Overlay.Benchmarks;

/// <summary>Key256 operations on the routing path; each should cost a few nanoseconds and allocate nothing.</summary>
[MemoryDiagnoser]
public class Key256Benchmarks
{
    private readonly byte[] _bytes = new byte[Key256.Size];
    private Key256 _a;
    private Key256 _b;
    private Key256 _c;
    private string _hex = "";

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(256);
        _a = Key256.Random(random);
        _b = Key256.Random(random);
        _c = Key256.Random(random);
        _hex = _a.ToString();
    }

    /// <summary>Baseline: equality, the cheapest thing one can ask of two keys.</summary>
    [Benchmark(Baseline = true)]
    public bool Equal() => _a == _b;

    [Benchmark]
    public int Compare() => _a.CompareTo(_b);

    [Benchmark]
    public Key256 RingDistance() => Key256.RingDistance(_a, _b);

    [Benchmark]
    public bool IsBetween() => Key256.IsBetween(_c, _a, _b);

    [Benchmark]
    public int CompareCloseness() => Key256.CompareCloseness(_c, _a, _b);

    [Benchmark]
    public int SharedPrefixLength() => _a.SharedPrefixLength(_b);

    [Benchmark]
    public int GetDigit() => _a.GetDigit(37);

    [Benchmark]
    public Key256 Add() => _a + _b;

    [Benchmark]
    public Key256 WriteAndReadBigEndian()
    {
        _a.WriteBigEndian(_bytes);
        return Key256.ReadBigEndian(_bytes);
    }

    [Benchmark]
    public Key256 ParseHex() => Key256.Parse(_hex.AsSpan());
}
