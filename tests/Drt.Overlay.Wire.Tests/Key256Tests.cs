using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using Xunit;

namespace Drt.Overlay.Wire.Tests;

/// <summary>Key256 against System.Numerics.BigInteger as the oracle (tests only: the type itself never uses it).</summary>
public sealed class Key256Tests
{
    private const int Seed = 256;
    private const int Samples = 3_000;
    private static readonly BigInteger s_modulus = BigInteger.One << 256;

    private static BigInteger Big(Key256 key)
    {
        Span<byte> bytes = stackalloc byte[Key256.Size];
        key.WriteBigEndian(bytes);
        return new BigInteger(bytes, isUnsigned: true, isBigEndian: true);
    }

    private static Key256 FromBig(BigInteger value)
    {
        value = ((value % s_modulus) + s_modulus) % s_modulus;
        byte[] bytes = new byte[Key256.Size];
        value.TryWriteBytes(bytes.AsSpan(Key256.Size - value.GetByteCount(isUnsigned: true)), out _, isUnsigned: true, isBigEndian: true);
        return Key256.ReadBigEndian(bytes);
    }

    /// <summary>Random keys plus the edges: 0, 1, 2^255 − 1, 2^255, 2^256 − 1 and keys that differ in one limb.</summary>
    private static List<Key256> Keys(int seed)
    {
        var random = new Random(seed);
        List<Key256> keys =
        [
            Key256.Zero, Key256.One, Key256.MaxValue,
            new(1UL << 63, 0, 0, 0), new(long.MaxValue, ulong.MaxValue, ulong.MaxValue, ulong.MaxValue),
            new(0, 0, 0, ulong.MaxValue), new(0, 0, 1, 0), new(0, ulong.MaxValue, 0, 0), new(ulong.MaxValue, 0, 0, 0),
        ];
        while (keys.Count < Samples)
        {
            Key256 key = Key256.Random(random);
            keys.Add(key);

            // Neighbours and near-misses matter for ring logic.
            if (random.Next(4) == 0)
            {
                keys.Add(key + Key256.One);
                keys.Add(new Key256(key.Limb0, key.Limb1, key.Limb2 ^ 1, key.Limb3));
            }
        }

        return keys;
    }

    private static IEnumerable<(Key256 A, Key256 B)> Pairs(int seed)
    {
        List<Key256> keys = Keys(seed);
        var random = new Random(seed + 1);
        for (int i = 0; i < keys.Count; i++)
        {
            yield return (keys[i], keys[random.Next(keys.Count)]);
            yield return (keys[i], keys[i]);
        }
    }

    private static BigInteger RingDistance(BigInteger a, BigInteger b)
    {
        BigInteger up = ((b - a) % s_modulus + s_modulus) % s_modulus;
        return BigInteger.Min(up, s_modulus - up == s_modulus ? 0 : s_modulus - up);
    }

    [Fact]
    public void BigEndianBytesRoundTripAndMatchTheOracle()
    {
        Span<byte> bytes = stackalloc byte[Key256.Size];
        foreach (Key256 key in Keys(Seed))
        {
            key.WriteBigEndian(bytes);
            Assert.Equal(key, Key256.ReadBigEndian(bytes));
            Assert.Equal(key, FromBig(Big(key)));
            Assert.Equal(key.Limb0, BinaryPrimitives.ReadUInt64BigEndian(bytes));
        }
    }

    [Fact]
    public void HexFormatAndParseRoundTripInEitherCase()
    {
        foreach (Key256 key in Keys(Seed))
        {
            string hex = key.ToString();
            Assert.Equal(64, hex.Length);
            Assert.Equal(Big(key).ToString("x64")[^64..], hex);
            Assert.Equal(key, Key256.Parse(hex));
            Assert.Equal(key, Key256.Parse(hex.ToUpperInvariant()));
            Assert.True(key.TryFormat(new char[64], out int written));
            Assert.Equal(64, written);
        }
    }

    [Theory]
    [InlineData("", "got 0 characters")]
    [InlineData("abc", "got 3 characters")]
    [InlineData("0x00000000000000000000000000000000000000000000000000000000000000", "character 1 is 'x'")]
    [InlineData("000000000000000000000000000000000000000000000000000000000000000g", "character 63 is 'g'")]
    [InlineData("00000000000000000000000000000000 0000000000000000000000000000000", "character 32 is ' '")]
    [InlineData("00000000000000000000000000000000000000000000000000000000000000000", "got 65 characters")]
    public void BadHexSaysWhatIsWrongAndWhere(string text, string expected)
    {
        FormatException error = Assert.Throws<FormatException>(() => Key256.Parse(text));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.False(Key256.TryParse(text, out _));
        Assert.False(Key256.TryParse(text, out _, out string? message));
        Assert.Equal(error.Message, message);
    }

    [Fact]
    public void ComparisonAndEqualityMatchTheOracle()
    {
        foreach ((Key256 a, Key256 b) in Pairs(Seed))
        {
            int expected = Big(a).CompareTo(Big(b));
            Assert.Equal(Math.Sign(expected), Math.Sign(a.CompareTo(b)));
            Assert.Equal(expected == 0, a == b);
            Assert.Equal(expected < 0, a < b);
            Assert.Equal(expected >= 0, a >= b);
            if (expected == 0)
            {
                Assert.Equal(a.GetHashCode(), b.GetHashCode());
            }
        }
    }

    [Fact]
    public void AdditionAndSubtractionWrapModulo2To256()
    {
        foreach ((Key256 a, Key256 b) in Pairs(Seed))
        {
            Assert.Equal(FromBig(Big(a) + Big(b)), a + b);
            Assert.Equal(FromBig(Big(a) - Big(b)), a - b);
            Assert.Equal(a, a + b - b);
        }

        Assert.Equal(Key256.Zero, Key256.MaxValue + Key256.One);
        Assert.Equal(Key256.MaxValue, Key256.Zero - Key256.One);
        Key256 key = Key256.MaxValue;
        key++;
        Assert.Equal(Key256.Zero, key);
    }

    [Fact]
    public void RingDistanceIsTheShorterWayRound()
    {
        foreach ((Key256 a, Key256 b) in Pairs(Seed))
        {
            BigInteger expected = RingDistance(Big(a), Big(b));
            Assert.Equal(FromBig(expected), Key256.RingDistance(a, b));
            Assert.Equal(Key256.RingDistance(a, b), Key256.RingDistance(b, a));
            Assert.True(Big(Key256.RingDistance(a, b)) <= (BigInteger.One << 255));
            Assert.Equal(FromBig(Big(b) - Big(a)), Key256.ClockwiseDistance(a, b));
        }

        Assert.Equal(Key256.One, Key256.RingDistance(Key256.Zero, Key256.MaxValue));
    }

    [Fact]
    public void IsBetweenFollowsTheClockwiseArcWithBothEndsIncluded()
    {
        var random = new Random(Seed);
        List<Key256> keys = Keys(Seed);
        for (int i = 0; i < Samples; i++)
        {
            Key256 start = keys[random.Next(keys.Count)];
            Key256 end = random.Next(5) == 0 ? start : keys[random.Next(keys.Count)];
            Key256 key = random.Next(4) switch
            {
                0 => start,
                1 => end,
                _ => keys[random.Next(keys.Count)],
            };

            // Oracle: walking clockwise from start, key comes no later than end.
            BigInteger offset = ((Big(key) - Big(start)) % s_modulus + s_modulus) % s_modulus;
            BigInteger span = ((Big(end) - Big(start)) % s_modulus + s_modulus) % s_modulus;
            Assert.Equal(offset <= span, Key256.IsBetween(key, start, end));
            bool strictly = start == end ? key != start : offset > 0 && offset < span;
            Assert.Equal(strictly, Key256.IsStrictlyBetween(key, start, end));
        }

        // Across zero.
        Assert.True(Key256.IsBetween(Key256.Zero, Key256.MaxValue, Key256.One));
        Assert.False(Key256.IsBetween(new Key256(0, 0, 0, 2), Key256.MaxValue, Key256.One));
    }

    [Fact]
    public void DigitsAndSharedPrefixesMatchTheHexText()
    {
        foreach ((Key256 a, Key256 b) in Pairs(Seed))
        {
            string ha = a.ToString();
            string hb = b.ToString();
            for (int i = 0; i < Key256.DigitCount; i += 7)
            {
                Assert.Equal(Convert.ToInt32(ha[i].ToString(), 16), a.GetDigit(i));
            }

            int shared = 0;
            while (shared < 64 && ha[shared] == hb[shared])
            {
                shared++;
            }

            Assert.Equal(shared, a.SharedPrefixLength(b));
            BigInteger xor = Big(a) ^ Big(b);
            int bits = xor.IsZero ? 256 : 256 - (int)xor.GetBitLength();
            Assert.Equal(bits, a.SharedPrefixBits(b));
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => Key256.One.GetDigit(64));
        Assert.Throws<ArgumentOutOfRangeException>(() => Key256.One.GetDigit(-1));
    }

    [Fact]
    public void HalfIsAShiftRightByOneBit()
    {
        foreach (Key256 key in Keys(Seed))
        {
            Assert.Equal(FromBig(Big(key) >> 1), key.Half());
        }
    }

    [Fact]
    public void CompareClosenessRanksByRingDistanceThenClockwise()
    {
        var random = new Random(Seed);
        List<Key256> keys = Keys(Seed);
        for (int i = 0; i < Samples; i++)
        {
            Key256 target = keys[random.Next(keys.Count)];
            Key256 a = keys[random.Next(keys.Count)];
            Key256 b = random.Next(10) == 0 ? target + target - a : keys[random.Next(keys.Count)]; // equal distances, too

            int expected = a == b ? 0 : RingDistance(Big(target), Big(a)).CompareTo(RingDistance(Big(target), Big(b)));
            if (expected == 0 && a != b)
            {
                expected = (Big(a - target) < Big(b - target)) ? -1 : 1;
            }

            Assert.Equal(expected, Math.Sign(Key256.CompareCloseness(target, a, b)));
        }
    }

    [Fact]
    public void RandomKeysFollowTheSeed()
    {
        var first = new Random(9);
        var second = new Random(9);
        var distinct = new HashSet<Key256>();
        for (int i = 0; i < 1_000; i++)
        {
            Key256 key = Key256.Random(first);
            Assert.Equal(key, Key256.Random(second));
            distinct.Add(key);
        }

        Assert.Equal(1_000, distinct.Count);
        Assert.NotEqual(Key256.RandomSecure(), Key256.RandomSecure());
    }

    [Theory]
    [InlineData("")]
    [InlineData("printer")]
    [InlineData("日本語の分類子")]
    public void DeriveIsSha256OfTheDocumentedConcatenation(string classifier)
    {
        byte[] domain = Encoding.ASCII.GetBytes("drt-overlay/key/v1");
        byte[] publicKey = [.. Enumerable.Range(0, 32).Select(i => (byte)(i * 7))];
        byte[] expected = SHA256.HashData([
            (byte)(domain.Length >> 8), (byte)domain.Length, .. domain,
            (byte)(publicKey.Length >> 8), (byte)publicKey.Length, .. publicKey,
            .. Encoding.UTF8.GetBytes(classifier)]);

        Key256 key = Key256.Derive(domain, publicKey, classifier);

        Assert.Equal(Key256.ReadBigEndian(expected), key);
        Assert.NotEqual(key, Key256.Derive(domain, publicKey, classifier + "x"));
        Assert.NotEqual(key, Key256.Derive(domain, [.. publicKey[..31], 1], classifier));
    }

    [Fact]
    public void DeriveRejectsEmptyIdentitiesAndOverlongClassifiersByName()
    {
        byte[] domain = [1];
        byte[] publicKey = [2];

        Assert.Equal("domainTag", Assert.Throws<ArgumentException>(() => Key256.Derive([], publicKey, "")).ParamName);
        Assert.Equal("publicKey", Assert.Throws<ArgumentException>(() => Key256.Derive(domain, [], "")).ParamName);
        ArgumentException tooLong = Assert.Throws<ArgumentException>(() => Key256.Derive(domain, publicKey, new string('é', 129)));
        Assert.Equal("classifier", tooLong.ParamName);
        Assert.Contains("258", tooLong.Message, StringComparison.Ordinal);
        Key256.Derive(domain, publicKey, new string('a', Key256.MaxClassifierBytes)); // exactly the cap
    }

    [Fact]
    public void EveryOperationButFormattingAndDerivationAllocatesNothing()
    {
        List<Key256> keys = Keys(Seed);
        byte[] bytes = new byte[Key256.Size];
        char[] hex = new char[Key256.HexLength];
        var random = new Random(1);
        long sink = 0;

        void Run()
        {
            for (int i = 1; i < keys.Count; i++)
            {
                Key256 a = keys[i - 1];
                Key256 b = keys[i];
                a.WriteBigEndian(bytes);
                Key256 c = Key256.ReadBigEndian(bytes) + b - Key256.One;
                sink += c.CompareTo(a) + (a == b ? 1 : 0) + a.GetDigit(i % 64) + a.SharedPrefixLength(b) + a.SharedPrefixBits(b)
                    + (Key256.IsBetween(c, a, b) ? 1 : 0) + (Key256.IsStrictlyBetween(c, a, b) ? 1 : 0)
                    + Key256.CompareCloseness(c, a, b) + (long)Key256.RingDistance(a, b).Limb3 + (long)a.Half().Limb0 + a.GetHashCode();
                a.TryFormat(hex, out _);
                sink += Key256.TryParse(hex, out Key256 parsed) ? (long)parsed.Limb3 : 0;
                sink += (long)Key256.Random(random).Limb1;
            }
        }

        Run();
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run();
        Run();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.NotEqual(0, sink);
    }
}
