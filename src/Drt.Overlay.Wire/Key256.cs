using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;

namespace Drt.Overlay.Wire;

/// <summary>
/// A 256-bit unsigned key on the DRT ring: four <see cref="ulong"/> limbs, most significant first.
/// </summary>
/// <remarks>
/// <para>
/// Keys live on a circle of 2^256 points, so 0 and 2^256 − 1 are neighbours. <see cref="RingDistance"/> is
/// the shorter way round; <see cref="CompareCloseness"/> breaks ties between two keys at the same
/// distance from a target deterministically: the key reached by going <em>up</em> (clockwise) from the
/// target wins, i.e. the one numerically greater modulo the ring. DRT leaves the rule open; Pastry uses
/// the same one.
/// </para>
/// <para>
/// On the wire a key is 32 bytes big-endian (most significant byte first), unlike DRT's API buffers,
/// which put the most significant byte last. Hex text is 64 digits, most significant first.
/// </para>
/// <para>Every operation is allocation-free except <see cref="ToString()"/> and <see cref="Derive"/>.</para>
/// </remarks>
public readonly struct Key256 : IEquatable<Key256>, IComparable<Key256>, IComparable, ISpanFormattable
{
    /// <summary>Bytes in a key.</summary>
    public const int Size = 32;

    /// <summary>Hex digits (base-16 digits) in a key; also the number of routing-table rows.</summary>
    public const int DigitCount = 64;

    /// <summary>Characters in the hex text form.</summary>
    public const int HexLength = 64;

    private readonly ulong _u0; // bits 255..192
    private readonly ulong _u1; // bits 191..128
    private readonly ulong _u2; // bits 127..64
    private readonly ulong _u3; // bits 63..0

    /// <summary>Creates a key from its limbs, most significant first.</summary>
    public Key256(ulong u0, ulong u1, ulong u2, ulong u3)
    {
        _u0 = u0;
        _u1 = u1;
        _u2 = u2;
        _u3 = u3;
    }

    /// <summary>The key 0.</summary>
    public static Key256 Zero => default;

    /// <summary>The key 2^256 − 1.</summary>
    public static Key256 MaxValue => new(ulong.MaxValue, ulong.MaxValue, ulong.MaxValue, ulong.MaxValue);

    /// <summary>The key 1.</summary>
    public static Key256 One => new(0, 0, 0, 1);

    /// <summary>Bits 255..192.</summary>
    public ulong Limb0 => _u0;

    /// <summary>Bits 191..128.</summary>
    public ulong Limb1 => _u1;

    /// <summary>Bits 127..64.</summary>
    public ulong Limb2 => _u2;

    /// <summary>Bits 63..0.</summary>
    public ulong Limb3 => _u3;

    /// <summary>True for the key 0.</summary>
    public bool IsZero => (_u0 | _u1 | _u2 | _u3) == 0;

    // ---------------------------------------------------------------- bytes

    /// <summary>Reads a key from exactly 32 big-endian bytes.</summary>
    /// <exception cref="ArgumentException">The span is not 32 bytes long.</exception>
    public static Key256 ReadBigEndian(ReadOnlySpan<byte> source)
    {
        if (source.Length != Size)
        {
            ThrowWrongLength(nameof(source), source.Length);
        }

        return new Key256(
            BinaryPrimitives.ReadUInt64BigEndian(source),
            BinaryPrimitives.ReadUInt64BigEndian(source[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(source[16..]),
            BinaryPrimitives.ReadUInt64BigEndian(source[24..]));
    }

    /// <summary>Writes the key as 32 big-endian bytes into the start of <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException">The destination is shorter than 32 bytes.</exception>
    public void WriteBigEndian(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            ThrowWrongLength(nameof(destination), destination.Length);
        }

        BinaryPrimitives.WriteUInt64BigEndian(destination, _u0);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _u1);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], _u2);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], _u3);
    }

    // ---------------------------------------------------------------- hex text

    /// <summary>Parses 64 hex digits (either case, no prefix, no separators).</summary>
    /// <exception cref="FormatException">The text is not 64 hex digits; the message says what is wrong and where.</exception>
    public static Key256 Parse(ReadOnlySpan<char> hex)
    {
        if (!TryParse(hex, out Key256 key, out string? error))
        {
            throw new FormatException(error);
        }

        return key;
    }

    /// <inheritdoc cref="Parse(ReadOnlySpan{char})"/>
    public static Key256 Parse(string hex)
    {
        ArgumentNullException.ThrowIfNull(hex);
        return Parse(hex.AsSpan());
    }

    /// <summary>Tries to parse 64 hex digits; allocation-free.</summary>
    public static bool TryParse(ReadOnlySpan<char> hex, out Key256 key) => TryParseCore(hex, out key) < 0;

    /// <summary>Tries to parse 64 hex digits; on failure <paramref name="error"/> says what is wrong.</summary>
    public static bool TryParse(ReadOnlySpan<char> hex, out Key256 key, [NotNullWhen(false)] out string? error)
    {
        int bad = TryParseCore(hex, out key);
        if (bad < 0)
        {
            error = null;
            return true;
        }

        error = hex.Length != HexLength
            ? $"A key is {HexLength} hex digits; got {hex.Length} characters."
            : $"A key is {HexLength} hex digits (0-9, a-f); character {bad} is '{hex[bad]}'.";
        return false;
    }

    // Returns -1 on success, the index of the first bad character, or int.MaxValue for a wrong length.
    private static int TryParseCore(ReadOnlySpan<char> hex, out Key256 key)
    {
        key = default;
        if (hex.Length != HexLength)
        {
            return int.MaxValue;
        }

        // The runtime's vectorised decoder: no per-digit branches to mispredict on random keys.
        Span<byte> bytes = stackalloc byte[Size];
        if (Convert.FromHexString(hex, bytes, out _, out int written) == System.Buffers.OperationStatus.Done && written == Size)
        {
            key = ReadBigEndian(bytes);
            return -1;
        }

        // Slow path, for the error message only: the first character that is not a hex digit.
        for (int i = 0; i < HexLength; i++)
        {
            if (HexValue(hex[i]) < 0)
            {
                return i;
            }
        }

        return int.MaxValue;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    /// <summary>64 lower-case hex digits.</summary>
    public override string ToString() => string.Create(HexLength, this, static (span, key) => key.FormatHex(span));

    /// <summary>64 lower-case hex digits; format and provider are ignored.</summary>
    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    /// <summary>Writes 64 lower-case hex digits; allocation-free.</summary>
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format = default, IFormatProvider? provider = null)
    {
        if (destination.Length < HexLength)
        {
            charsWritten = 0;
            return false;
        }

        FormatHex(destination);
        charsWritten = HexLength;
        return true;
    }

    private void FormatHex(Span<char> destination)
    {
        const string Digits = "0123456789abcdef";
        for (int i = 0; i < DigitCount; i++)
        {
            destination[i] = Digits[GetDigit(i)];
        }
    }

    /// <summary>The first <paramref name="digits"/> hex digits followed by "…", for logs.</summary>
    public string ToShortString(int digits = 8)
    {
        digits = Math.Clamp(digits, 1, HexLength);
        return string.Concat(ToString().AsSpan(0, digits), digits < HexLength ? "…" : "");
    }

    // ---------------------------------------------------------------- digits and prefixes

    /// <summary>The base-16 digit at <paramref name="index"/>, 0 being the most significant.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The index is not in 0..63.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int GetDigit(int index)
    {
        if ((uint)index >= DigitCount)
        {
            ThrowDigitIndex(index);
        }

        ulong limb = (index >> 4) switch
        {
            0 => _u0,
            1 => _u1,
            2 => _u2,
            _ => _u3,
        };
        return (int)((limb >> ((15 - (index & 15)) << 2)) & 0xF);
    }

    /// <summary>The number of leading hex digits this key shares with <paramref name="other"/> (0..64).</summary>
    public int SharedPrefixLength(Key256 other)
    {
        // The first differing limb decides; LeadingZeroCount of the XOR gives the first differing bit.
        ulong x = _u0 ^ other._u0;
        if (x != 0)
        {
            return BitOperations.LeadingZeroCount(x) >> 2;
        }

        x = _u1 ^ other._u1;
        if (x != 0)
        {
            return 16 + (BitOperations.LeadingZeroCount(x) >> 2);
        }

        x = _u2 ^ other._u2;
        if (x != 0)
        {
            return 32 + (BitOperations.LeadingZeroCount(x) >> 2);
        }

        x = _u3 ^ other._u3;
        return x != 0 ? 48 + (BitOperations.LeadingZeroCount(x) >> 2) : DigitCount;
    }

    /// <summary>The number of leading bits this key shares with <paramref name="other"/> (0..256); DRT's "nearness".</summary>
    public int SharedPrefixBits(Key256 other)
    {
        ulong x = _u0 ^ other._u0;
        if (x != 0)
        {
            return BitOperations.LeadingZeroCount(x);
        }

        x = _u1 ^ other._u1;
        if (x != 0)
        {
            return 64 + BitOperations.LeadingZeroCount(x);
        }

        x = _u2 ^ other._u2;
        if (x != 0)
        {
            return 128 + BitOperations.LeadingZeroCount(x);
        }

        x = _u3 ^ other._u3;
        return x != 0 ? 192 + BitOperations.LeadingZeroCount(x) : 256;
    }

    // ---------------------------------------------------------------- arithmetic on the ring

    /// <summary>Addition modulo 2^256.</summary>
    public static Key256 operator +(Key256 a, Key256 b)
    {
        ulong r3 = a._u3 + b._u3;
        ulong c = r3 < a._u3 ? 1UL : 0UL;
        ulong r2 = AddWithCarry(a._u2, b._u2, ref c);
        ulong r1 = AddWithCarry(a._u1, b._u1, ref c);
        ulong r0 = a._u0 + b._u0 + c;
        return new Key256(r0, r1, r2, r3);
    }

    /// <summary>Subtraction modulo 2^256.</summary>
    public static Key256 operator -(Key256 a, Key256 b)
    {
        ulong r3 = a._u3 - b._u3;
        ulong borrow = a._u3 < b._u3 ? 1UL : 0UL;
        ulong r2 = SubtractWithBorrow(a._u2, b._u2, ref borrow);
        ulong r1 = SubtractWithBorrow(a._u1, b._u1, ref borrow);
        ulong r0 = a._u0 - b._u0 - borrow;
        return new Key256(r0, r1, r2, r3);
    }

    /// <summary>The next key clockwise (wraps 2^256 − 1 to 0). Publishing looks up key + 1.</summary>
    public static Key256 operator ++(Key256 a) => a + One;

    /// <summary>The previous key (wraps 0 to 2^256 − 1).</summary>
    public static Key256 operator --(Key256 a) => a - One;

    /// <summary>Bitwise exclusive or.</summary>
    public static Key256 operator ^(Key256 a, Key256 b) => new(a._u0 ^ b._u0, a._u1 ^ b._u1, a._u2 ^ b._u2, a._u3 ^ b._u3);

    /// <summary>The key halved (logical shift right by one bit); used to find the midpoint of an arc.</summary>
    public Key256 Half() => new(
        _u0 >> 1,
        (_u1 >> 1) | (_u0 << 63),
        (_u2 >> 1) | (_u1 << 63),
        (_u3 >> 1) | (_u2 << 63));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong AddWithCarry(ulong a, ulong b, ref ulong carry)
    {
        ulong s = a + b;
        ulong c1 = s < a ? 1UL : 0UL;
        ulong r = s + carry;
        ulong c2 = r < s ? 1UL : 0UL;
        carry = c1 | c2;
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong SubtractWithBorrow(ulong a, ulong b, ref ulong borrow)
    {
        ulong d = a - b;
        ulong b1 = a < b ? 1UL : 0UL;
        ulong r = d - borrow;
        ulong b2 = d < borrow ? 1UL : 0UL;
        borrow = b1 | b2;
        return r;
    }

    /// <summary>The clockwise distance from <paramref name="from"/> up to <paramref name="to"/>: (to − from) mod 2^256.</summary>
    public static Key256 ClockwiseDistance(Key256 from, Key256 to) => to - from;

    /// <summary>
    /// The distance between two keys the shorter way round the circle: min(a − b, b − a) mod 2^256.
    /// At most 2^255.
    /// </summary>
    public static Key256 RingDistance(Key256 a, Key256 b)
    {
        Key256 up = b - a;
        Key256 down = a - b;
        return up < down ? up : down;
    }

    /// <summary>
    /// Compares how close <paramref name="a"/> and <paramref name="b"/> are to <paramref name="target"/>
    /// on the ring: negative when <paramref name="a"/> is closer, positive when <paramref name="b"/> is,
    /// 0 only when they are the same key. Equal distances are broken in favour of the key clockwise
    /// (numerically above, modulo the ring) of the target.
    /// </summary>
    public static int CompareCloseness(Key256 target, Key256 a, Key256 b)
    {
        if (a == b)
        {
            return 0;
        }

        int byDistance = RingDistance(target, a).CompareTo(RingDistance(target, b));
        if (byDistance != 0)
        {
            return byDistance;
        }

        // Same distance, different keys: one lies clockwise of the target, the other counter-clockwise
        // (or one of them is the exact antipode). The clockwise one wins.
        Key256 aUp = a - target;
        Key256 bUp = b - target;
        return aUp < bUp ? -1 : 1;
    }

    /// <summary>
    /// True when <paramref name="key"/> lies on the clockwise arc from <paramref name="start"/> to
    /// <paramref name="end"/>, both ends included. When <paramref name="start"/> == <paramref name="end"/>
    /// the arc is that single point.
    /// </summary>
    public static bool IsBetween(Key256 key, Key256 start, Key256 end) => key - start <= end - start;

    /// <summary>
    /// True when <paramref name="key"/> lies strictly inside the clockwise arc from <paramref name="start"/>
    /// to <paramref name="end"/>. When <paramref name="start"/> == <paramref name="end"/> the arc is the whole
    /// ring except that point.
    /// </summary>
    public static bool IsStrictlyBetween(Key256 key, Key256 start, Key256 end)
    {
        Key256 offset = key - start;
        if (offset.IsZero)
        {
            return false;
        }

        Key256 span = end - start;
        return span.IsZero || offset < span;
    }

    // ---------------------------------------------------------------- creation

    /// <summary>A uniformly random key from a seeded (non-cryptographic) source; for tests and simulation.</summary>
    public static Key256 Random(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        Span<byte> bytes = stackalloc byte[Size];
        random.NextBytes(bytes);
        return ReadBigEndian(bytes);
    }

    /// <summary>A key from the operating system's cryptographic random source.</summary>
    public static Key256 RandomSecure()
    {
        Span<byte> bytes = stackalloc byte[Size];
        RandomNumberGenerator.Fill(bytes);
        return ReadBigEndian(bytes);
    }

    /// <summary>
    /// Derives a key from an identity: SHA-256(len(domain) ‖ domain ‖ len(publicKey) ‖ publicKey ‖ classifier),
    /// lengths as 2-byte big-endian, the classifier as UTF-8. One public key owns one key per classifier.
    /// </summary>
    /// <param name="domainTag">Separates this use of the hash from every other (e.g. "drt-overlay/key/v1").</param>
    /// <param name="publicKey">The owner's public key bytes (32 for Ed25519).</param>
    /// <param name="classifier">
    /// A short application string, 0..<see cref="MaxClassifierBytes"/> bytes of UTF-8. Empty is valid (a key with no
    /// classifier, as DRT allows) and derives a different key from every non-empty classifier.
    /// </param>
    /// <exception cref="ArgumentException">
    /// The domain tag or public key is empty or longer than 65,535 bytes, or the classifier is longer than
    /// <see cref="MaxClassifierBytes"/> bytes of UTF-8; the message names which.
    /// </exception>
    public static Key256 Derive(ReadOnlySpan<byte> domainTag, ReadOnlySpan<byte> publicKey, string classifier)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        if (domainTag.IsEmpty || domainTag.Length > ushort.MaxValue)
        {
            throw new ArgumentException($"The domain tag must be 1..{ushort.MaxValue} bytes; got {domainTag.Length}.", nameof(domainTag));
        }

        if (publicKey.IsEmpty || publicKey.Length > ushort.MaxValue)
        {
            throw new ArgumentException($"The public key must be 1..{ushort.MaxValue} bytes; got {publicKey.Length}.", nameof(publicKey));
        }

        int classifierBytes = Encoding.UTF8.GetByteCount(classifier);
        if (classifierBytes > MaxClassifierBytes)
        {
            throw new ArgumentException($"The classifier must be at most {MaxClassifierBytes} bytes of UTF-8; got {classifierBytes}.", nameof(classifier));
        }

        using IncrementalHash hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> length = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)domainTag.Length);
        hash.AppendData(length);
        hash.AppendData(domainTag);
        BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)publicKey.Length);
        hash.AppendData(length);
        hash.AppendData(publicKey);
        Span<byte> classifierUtf8 = stackalloc byte[MaxClassifierBytes];
        hash.AppendData(classifierUtf8[..Encoding.UTF8.GetBytes(classifier, classifierUtf8)]);

        Span<byte> digest = stackalloc byte[Size];
        hash.GetHashAndReset(digest);
        return ReadBigEndian(digest);
    }

    /// <summary>The longest classifier <see cref="Derive"/> accepts, in UTF-8 bytes.</summary>
    public const int MaxClassifierBytes = 256;

    // ---------------------------------------------------------------- comparison

    /// <summary>Numeric comparison (not ring order).</summary>
    public int CompareTo(Key256 other)
    {
        if (_u0 != other._u0)
        {
            return _u0 < other._u0 ? -1 : 1;
        }

        if (_u1 != other._u1)
        {
            return _u1 < other._u1 ? -1 : 1;
        }

        if (_u2 != other._u2)
        {
            return _u2 < other._u2 ? -1 : 1;
        }

        return _u3.CompareTo(other._u3);
    }

    /// <inheritdoc/>
    public int CompareTo(object? obj) => obj switch
    {
        null => 1,
        Key256 other => CompareTo(other),
        _ => throw new ArgumentException("Object must be of type Key256.", nameof(obj)),
    };

    /// <inheritdoc/>
    public bool Equals(Key256 other) => ((_u0 ^ other._u0) | (_u1 ^ other._u1) | (_u2 ^ other._u2) | (_u3 ^ other._u3)) == 0;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Key256 other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_u0, _u1, _u2, _u3);

    /// <summary>True when both keys are the same 256-bit value.</summary>
    public static bool operator ==(Key256 left, Key256 right) => left.Equals(right);

    /// <summary>True when the keys differ in any bit.</summary>
    public static bool operator !=(Key256 left, Key256 right) => !left.Equals(right);

    /// <summary>Numeric less-than.</summary>
    public static bool operator <(Key256 left, Key256 right) => left.CompareTo(right) < 0;

    /// <summary>Numeric less-than-or-equal.</summary>
    public static bool operator <=(Key256 left, Key256 right) => left.CompareTo(right) <= 0;

    /// <summary>Numeric greater-than.</summary>
    public static bool operator >(Key256 left, Key256 right) => left.CompareTo(right) > 0;

    /// <summary>Numeric greater-than-or-equal.</summary>
    public static bool operator >=(Key256 left, Key256 right) => left.CompareTo(right) >= 0;

    // ---------------------------------------------------------------- throw helpers

    [DoesNotReturn]
    private static void ThrowWrongLength(string paramName, int length) =>
        throw new ArgumentException($"A key is {Size} bytes; the span has {length}.", paramName);

    [DoesNotReturn]
    private static void ThrowDigitIndex(int index) =>
        throw new ArgumentOutOfRangeException(nameof(index), index, $"A digit index is 0..{DigitCount - 1}.");
}
