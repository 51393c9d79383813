using System.Buffers.Binary;
using MessagePack;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>
/// Reads the MessagePack subset our messages use (arrays, unsigned integers, booleans, nil, binary) from one
/// contiguous datagram, and never throws: every method checks the format code and the length bytes against the
/// caller's bounds and the bytes remaining before it moves, and returns a <see cref="DecodeStatus"/>.
/// </summary>
/// <remarks>
/// <para>
/// Why not <see cref="MessagePackReader"/> itself: it throws on a wrong type or truncated input (an exception per
/// hostile datagram), and, built on <c>SequenceReader</c> for multi-segment input, it cost ≈ 260 ns to read a
/// search request here — with encoding, three times DESIGN §6's 150 ns budget. Datagrams are always one contiguous
/// span, so this reader indexes it directly. The format is standard MessagePack, written by
/// <see cref="MessagePackWriter"/>; the tests check that <see cref="MessagePackReader"/> reads every encoding.
/// </para>
/// <para>Binary values come back as slices of the datagram (no copy), valid as long as the datagram buffer is.</para>
/// </remarks>
internal ref struct WireReader
{
    private readonly ReadOnlyMemory<byte> _buffer;
    private readonly ReadOnlySpan<byte> _span;
    private int _position;

    /// <summary>A reader over <paramref name="body"/>, a contiguous MessagePack body.</summary>
    public WireReader(ReadOnlyMemory<byte> body)
    {
        _buffer = body;
        _span = body.Span;
        _position = 0;
    }

    /// <summary>Bytes consumed so far.</summary>
    public readonly int Consumed => _position;

    /// <summary>Bytes not yet consumed.</summary>
    public readonly int Remaining => _span.Length - _position;

    /// <summary>Whether every byte has been consumed.</summary>
    public readonly bool End => _position == _span.Length;

    /// <summary>The underlying buffer, for slicing raw lists out of it.</summary>
    public readonly ReadOnlyMemory<byte> Buffer => _buffer;

    private readonly ReadOnlySpan<byte> Rest => _span[_position..];

    /// <summary>Whether the next value is nil; false at the end of input.</summary>
    public readonly bool NextIsNil => Remaining > 0 && Rest[0] == MessagePackCode.Nil;

    /// <summary>Reads an array header whose count lies in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    /// <returns><see cref="DecodeStatus.TooLarge"/> above <paramref name="max"/>; <see cref="DecodeStatus.Malformed"/> below <paramref name="min"/>.</returns>
    public DecodeStatus ReadArrayHeader(int min, int max, out int count)
    {
        count = 0;
        ReadOnlySpan<byte> rest = Rest;
        if (rest.IsEmpty)
        {
            return DecodeStatus.Truncated;
        }

        byte code = rest[0];
        long value;
        int headerLength;
        if (code is >= MessagePackCode.MinFixArray and <= MessagePackCode.MaxFixArray)
        {
            value = code & 0x0F;
            headerLength = 1;
        }
        else if (code == MessagePackCode.Array16)
        {
            if (rest.Length < 3)
            {
                return DecodeStatus.Truncated;
            }

            value = BinaryPrimitives.ReadUInt16BigEndian(rest[1..]);
            headerLength = 3;
        }
        else if (code == MessagePackCode.Array32)
        {
            if (rest.Length < 5)
            {
                return DecodeStatus.Truncated;
            }

            value = BinaryPrimitives.ReadUInt32BigEndian(rest[1..]);
            headerLength = 5;
        }
        else
        {
            return DecodeStatus.Malformed;
        }

        if (value > max)
        {
            return DecodeStatus.TooLarge;
        }

        if (value < min)
        {
            return DecodeStatus.Malformed;
        }

        // Every element takes at least one byte: a count beyond the bytes left is a lie, caught before any loop.
        if (value > rest.Length - headerLength)
        {
            return DecodeStatus.Truncated;
        }

        _position += headerLength;
        count = (int)value;
        return DecodeStatus.Ok;
    }

    /// <summary>Reads an array header that must hold exactly <paramref name="count"/> fields.</summary>
    public DecodeStatus ReadFields(int count)
    {
        DecodeStatus status = ReadArrayHeader(count, count, out _);
        return status == DecodeStatus.TooLarge ? DecodeStatus.Malformed : status;
    }

    /// <summary>Reads an unsigned integer no larger than <paramref name="max"/> (negative integers are malformed).</summary>
    public DecodeStatus ReadUInt64(ulong max, out ulong value)
    {
        value = 0;
        ReadOnlySpan<byte> rest = Rest;
        if (rest.IsEmpty)
        {
            return DecodeStatus.Truncated;
        }

        byte code = rest[0];
        int length = code switch
        {
            <= MessagePackCode.MaxFixInt => 1,
            MessagePackCode.UInt8 => 2,
            MessagePackCode.UInt16 => 3,
            MessagePackCode.UInt32 => 5,
            MessagePackCode.UInt64 => 9,
            _ => 0,
        };
        if (length == 0)
        {
            return DecodeStatus.Malformed;
        }

        if (rest.Length < length)
        {
            return DecodeStatus.Truncated;
        }

        ulong read = length switch
        {
            1 => code,
            2 => rest[1],
            3 => BinaryPrimitives.ReadUInt16BigEndian(rest[1..]),
            5 => BinaryPrimitives.ReadUInt32BigEndian(rest[1..]),
            _ => BinaryPrimitives.ReadUInt64BigEndian(rest[1..]),
        };
        _position += length;
        if (read > max)
        {
            return DecodeStatus.Malformed;
        }

        value = read;
        return DecodeStatus.Ok;
    }

    /// <summary>Reads an unsigned integer that fits a byte.</summary>
    public DecodeStatus ReadByte(out byte value)
    {
        DecodeStatus status = ReadUInt64(byte.MaxValue, out ulong v);
        value = (byte)v;
        return status;
    }

    /// <summary>Reads an unsigned integer that fits 16 bits.</summary>
    public DecodeStatus ReadUInt16(out ushort value)
    {
        DecodeStatus status = ReadUInt64(ushort.MaxValue, out ulong v);
        value = (ushort)v;
        return status;
    }

    /// <summary>Reads an unsigned integer that fits 32 bits.</summary>
    public DecodeStatus ReadUInt32(out uint value)
    {
        DecodeStatus status = ReadUInt64(uint.MaxValue, out ulong v);
        value = (uint)v;
        return status;
    }

    /// <summary>Reads a boolean.</summary>
    public DecodeStatus ReadBoolean(out bool value)
    {
        value = false;
        ReadOnlySpan<byte> rest = Rest;
        if (rest.IsEmpty)
        {
            return DecodeStatus.Truncated;
        }

        if (rest[0] is not (MessagePackCode.True or MessagePackCode.False))
        {
            return DecodeStatus.Malformed;
        }

        value = rest[0] == MessagePackCode.True;
        _position++;
        return DecodeStatus.Ok;
    }

    /// <summary>Consumes a nil.</summary>
    public DecodeStatus ReadNil()
    {
        if (Remaining == 0)
        {
            return DecodeStatus.Truncated;
        }

        if (_span[_position] != MessagePackCode.Nil)
        {
            return DecodeStatus.Malformed;
        }

        _position++;
        return DecodeStatus.Ok;
    }

    /// <summary>
    /// Reads a binary value of [<paramref name="minLength"/>, <paramref name="maxLength"/>] bytes as a slice of the
    /// buffer (no copy).
    /// </summary>
    public DecodeStatus ReadBinary(int minLength, int maxLength, out ReadOnlyMemory<byte> value)
    {
        DecodeStatus status = ReadBinaryRange(minLength, maxLength, out int start, out int length);
        value = status == DecodeStatus.Ok ? _buffer.Slice(start, length) : default;
        return status;
    }

    private DecodeStatus ReadBinaryRange(int minLength, int maxLength, out int start, out int valueLength)
    {
        start = 0;
        valueLength = 0;
        ReadOnlySpan<byte> rest = Rest;
        if (rest.IsEmpty)
        {
            return DecodeStatus.Truncated;
        }

        long length;
        int headerLength;
        switch (rest[0])
        {
            case MessagePackCode.Bin8:
                if (rest.Length < 2)
                {
                    return DecodeStatus.Truncated;
                }

                length = rest[1];
                headerLength = 2;
                break;
            case MessagePackCode.Bin16:
                if (rest.Length < 3)
                {
                    return DecodeStatus.Truncated;
                }

                length = BinaryPrimitives.ReadUInt16BigEndian(rest[1..]);
                headerLength = 3;
                break;
            case MessagePackCode.Bin32:
                if (rest.Length < 5)
                {
                    return DecodeStatus.Truncated;
                }

                length = BinaryPrimitives.ReadUInt32BigEndian(rest[1..]);
                headerLength = 5;
                break;
            default:
                return DecodeStatus.Malformed;
        }

        if (length > maxLength)
        {
            return DecodeStatus.TooLarge;
        }

        if (length < minLength)
        {
            return DecodeStatus.Malformed;
        }

        if (length > rest.Length - headerLength)
        {
            return DecodeStatus.Truncated;
        }

        start = _position + headerLength;
        valueLength = (int)length;
        _position = start + valueLength;
        return DecodeStatus.Ok;
    }

    /// <summary>Like <see cref="ReadBinary"/>, as a span (for values parsed at once, such as endpoints).</summary>
    public DecodeStatus ReadBinarySpan(int minLength, int maxLength, out ReadOnlySpan<byte> value)
    {
        DecodeStatus status = ReadBinaryRange(minLength, maxLength, out int start, out int length);
        value = status == DecodeStatus.Ok ? _span.Slice(start, length) : default;
        return status;
    }

    /// <summary>Reads a 32-byte binary value as a key.</summary>
    public DecodeStatus ReadKey(out Key256 key)
    {
        // The hottest read (every message carries keys): bin8 of 32 bytes, checked in one go.
        ReadOnlySpan<byte> rest = Rest;
        if (rest.Length >= 2 + Key256.Size && rest[0] == MessagePackCode.Bin8 && rest[1] == Key256.Size)
        {
            key = Key256.ReadBigEndian(rest.Slice(2, Key256.Size));
            _position += 2 + Key256.Size;
            return DecodeStatus.Ok;
        }

        DecodeStatus status = ReadBinary(Key256.Size, Key256.Size, out ReadOnlyMemory<byte> bytes);
        key = status == DecodeStatus.Ok ? Key256.ReadBigEndian(bytes.Span) : default;
        return status;
    }

    /// <summary>Reads a binary value of exactly <paramref name="length"/> bytes, or nil (returned as empty).</summary>
    public DecodeStatus ReadOptionalFixedBinary(int length, out ReadOnlyMemory<byte> value)
    {
        if (NextIsNil)
        {
            value = default;
            return ReadNil();
        }

        return ReadBinary(length, length, out value);
    }

    /// <summary>Succeeds only when every byte has been consumed (no trailing garbage).</summary>
    public readonly DecodeStatus ExpectEnd() => End ? DecodeStatus.Ok : DecodeStatus.Malformed;
}
