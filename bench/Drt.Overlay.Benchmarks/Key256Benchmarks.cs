using BenchmarkDotNet.Attributes;
using Drt.Overlay.Wire;

namespace Drt.Overlay.Benchmarks;

/// <summary>
/// Key256 operations on the routing path, each over 1,024 random key pairs per invocation so that the JIT cannot fold
/// them away; the baseline reads the same pairs and compares them for equality. All should allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class Key256Benchmarks
{
    private const int Pairs = 1_024;
    private readonly Key256[] _a = new Key256[Pairs];
    private readonly Key256[] _b = new Key256[Pairs];
    private readonly Key256[] _c = new Key256[Pairs];
    private readonly byte[] _bytes = new byte[Key256.Size];
    private readonly char[][] _hex = new char[Pairs][];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(256);
        for (int i = 0; i < Pairs; i++)
        {
            _a[i] = Key256.Random(random);
            _b[i] = random.Next(4) == 0 ? new Key256(_a[i].Limb0, _a[i].Limb1, (ulong)random.NextInt64(), 0) : Key256.Random(random);
            _c[i] = Key256.Random(random);
            _hex[i] = _a[i].ToString().ToCharArray();
        }
    }

    /// <summary>Baseline: equality of the pairs, the cheapest question one can ask of two keys.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Pairs)]
    public int Equal()
    {
        int n = 0;
        for (int i = 0; i < Pairs; i++)
        {
            n += _a[i] == _b[i] ? 1 : 0;
        }

        return n;
    }

    [Benchmark(OperationsPerInvoke = Pairs)]
    public int Compare()
    {
        int n = 0;
        for (int i = 0; i < Pairs; i++)
        {
            n += _a[i].CompareTo(_b[i]);
        }

        return n;
    }

    [Benchmark(OperationsPerInvoke = Pairs)]
    public ulong RingDistance()
    {
        ulong n = 0;
        for (int i = 0; i < Pairs; i++)
        {
            n ^= Key256.RingDistance(_a[i], _b[i]).Limb0;
        }

        return n;
    }

    [Benchmark(OperationsPerInvoke = Pairs)]
    public int IsBetween()
    {
        int n = 0;
        for (int i = 0; i < Pairs; i++)
        {
            n += Key256.IsBetween(_c[i], _a[i], _b[i]) ? 1 : 0;
        }

        return n;
    }

    [Benchmark(OperationsPerInvoke = Pairs)]
    public int CompareCloseness()
    {
        int n = 0;
        for (int i = 0; i < Pairs; i++)
        {
            n += Key256.CompareCloseness(_c[i], _a[i], _b[i]);
        }

        return n;
    }

    [Benchmark(OperationsPerInvoke = Pairs)]
    public int SharedPrefixLength()
    {
        int n = 0;
        for (int i = 0; i < Pairs; i++)
        {
            n += _a[i].SharedPrefixLength(_b[i]);
        }

        return n;
    }

    [Benchmark(OperationsPerInvoke = Pairs)]
    public int GetDigit()
    {
        int n = 0;
        for (int i = 0; i < Pairs; i++)
        {
            n += _a[i].GetDigit(i & 63);
        }

        return n;
    }

    [Benchmark(OperationsPerInvoke = Pairs)]
    public ulong Add()
    {
        ulong n = 0;
        for (int i = 0; i < Pairs; i++)
        {
            n ^= (_a[i] + _b[i]).Limb3;
        }

        return n;
    }

    [Benchmark(OperationsPerInvoke = Pairs)]
    public ulong WriteAndReadBigEndian()
    {
        ulong n = 0;
        for (int i = 0; i < Pairs; i++)
        {
            _a[i].WriteBigEndian(_bytes);
            n ^= Key256.ReadBigEndian(_bytes).Limb2;
        }

        return n;
    }

    [Benchmark(OperationsPerInvoke = Pairs)]
    public ulong ParseHex()
    {
        ulong n = 0;
        for (int i = 0; i < Pairs; i++)
        {
            n ^= Key256.Parse(_hex[i]).Limb1;
        }

        return n;
    }
}
