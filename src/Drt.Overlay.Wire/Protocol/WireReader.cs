using System.Buffers.Binary;
using MessagePack;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>
/// A <see cref="MessagePackReader"/> that never throws. <see cref="MessagePackReader"/> throws on a wrong type or on
/// truncated input, and its array-header check only compares a count with the bytes left; every method here first
/// peeks at the format code and the length bytes in the contiguous datagram, checks them against the caller's
/// bounds and the bytes remaining, and only then lets the reader consume them.
/// </summary>
/// <remarks>
/// Binary values come back as slices of the datagram (no copy); they are valid as long as the datagram buffer is.
/// </remarks>
internal ref struct WireReader
{
    private readonly ReadOnlyMemory<byte> _buffer;
    private MessagePackReader _reader;

    /// <summary>A reader over <paramref name="body"/>, a contiguous MessagePack body.</summary>
    public WireReader(ReadOnlyMemory<byte> body)
    {
        _buffer = body;
        _reader = new MessagePackReader(body);
    }

    /// <summary>Bytes consumed so far.</summary>
    public readonly int Consumed => (int)_reader.Consumed;

    /// <summary>Bytes not yet consumed.</summary>
    public readonly int Remaining => _buffer.Length - (int)_reader.Consumed;

    /// <summary>Whether every byte has been consumed.</summary>
    public readonly bool End => _reader.End;

    /// <summary>The underlying buffer, for slicing raw lists out of it.</summary>
    public readonly ReadOnlyMemory<byte> Buffer => _buffer;

    private readonly ReadOnlySpan<byte> Rest => _buffer.Span[(int)_reader.Consumed..];

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

        // Consume the header as raw bytes: MessagePackReader.ReadArrayHeader also reserves "minimum child bytes"
        // across nesting levels and throws when a reservation fails; we have already checked the count.
        _reader.ReadRaw(headerLength);
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

        ulong read = _reader.ReadUInt64();
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

        value = _reader.ReadBoolean();
        return DecodeStatus.Ok;
    }

    /// <summary>Consumes a nil.</summary>
    public DecodeStatus ReadNil()
    {
        if (Remaining == 0)
        {
            return DecodeStatus.Truncated;
        }

        return _reader.TryReadNil() ? DecodeStatus.Ok : DecodeStatus.Malformed;
    }

    /// <summary>
    /// Reads a binary value of [<paramref name="minLength"/>, <paramref name="maxLength"/>] bytes as a slice of the
    /// buffer (no copy).
    /// </summary>
    public DecodeStatus ReadBinary(int minLength, int maxLength, out ReadOnlyMemory<byte> value)
    {
        value = default;
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

        int start = (int)_reader.Consumed + headerLength;
        _reader.ReadRaw(headerLength + length);
        value = _buffer.Slice(start, (int)length);
        return DecodeStatus.Ok;
    }

    /// <summary>Reads a 32-byte binary value as a key.</summary>
    public DecodeStatus ReadKey(out Key256 key)
    {
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
    public readonly DecodeStatus ExpectEnd() => _reader.End ? DecodeStatus.Ok : DecodeStatus.Malformed;
}
