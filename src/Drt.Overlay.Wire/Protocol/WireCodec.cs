using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using MessagePack;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>
/// Encodes and decodes whole datagrams: the fixed header, then the MessagePack body of one message. Nothing here
/// allocates: encoding writes into the caller's (pooled) buffer writer, decoding yields structs whose byte fields and
/// lists are slices of the datagram.
/// </summary>
internal static class WireCodec
{
    /// <summary>
    /// Appends one datagram (header + body) to <paramref name="output"/>. The caller checks the length against the
    /// transport's maximum and fragments larger datagrams.
    /// </summary>
    /// <remarks>
    /// Encode and decode are never inlined into their callers: each gets its own JIT inlining budget, so the
    /// small writers and readers inside stay inlined (a caller that inlined both ran a third slower).
    /// </remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Encode<T>(in WireHeader header, in T message, IBufferWriter<byte> output)
        where T : struct, IWireMessage<T>
    {
        if (header.Type != T.Type)
        {
            ThrowHelper.ThrowArgumentException(nameof(header), $"The header says {header.Type} but the body is a {T.Type}.");
        }

        header.Write(output.GetSpan(WireHeader.Size));
        output.Advance(WireHeader.Size);

        var writer = new MessagePackWriter(output);
        message.Write(ref writer);
        writer.Flush();
    }

    /// <summary>Encodes a datagram into a reset <paramref name="buffer"/> and returns the encoded bytes.</summary>
    public static ReadOnlySpan<byte> Encode<T>(in WireHeader header, in T message, PooledBufferWriter buffer)
        where T : struct, IWireMessage<T>
    {
        buffer.Reset();
        Encode(header, message, (IBufferWriter<byte>)buffer);
        return buffer.WrittenSpan;
    }

    /// <summary>
    /// Decodes the body of a datagram whose header <paramref name="header"/> was read by
    /// <see cref="WireHeader.TryRead"/>. Trailing bytes after the body are malformed. Never throws.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static DecodeStatus TryDecode<T>(ReadOnlyMemory<byte> datagram, in WireHeader header, out T message)
        where T : struct, IWireMessage<T>
    {
        if (header.Type != T.Type || datagram.Length < WireHeader.Size)
        {
            message = default;
            return header.Type != T.Type ? DecodeStatus.WrongType : DecodeStatus.Truncated;
        }

        if ((header.Flags & HeaderFlags.Padded) != 0)
        {
            // Padding: the last two bytes count the padding bytes before them; neither is part of the body.
            ReadOnlySpan<byte> span = datagram.Span;
            if (span.Length < WireHeader.Size + PaddingCountSize)
            {
                message = default;
                return DecodeStatus.Truncated;
            }

            int padding = BinaryPrimitives.ReadUInt16BigEndian(span[^PaddingCountSize..]);
            if (padding + PaddingCountSize > span.Length - WireHeader.Size)
            {
                message = default;
                return DecodeStatus.Malformed;
            }

            datagram = datagram[..^(padding + PaddingCountSize)];
        }

        var reader = new WireReader(datagram[WireHeader.Size..]);
        DecodeStatus status = T.TryRead(ref reader, out message);
        if (status == DecodeStatus.Ok)
        {
            status = reader.ExpectEnd();
        }

        if (status != DecodeStatus.Ok)
        {
            message = default;
        }

        return status;
    }

    /// <summary>Bytes after the padding that count it (<see cref="HeaderFlags.Padded"/>).</summary>
    public const int PaddingCountSize = 2;

    /// <summary>
    /// Pads the datagram in <paramref name="buffer"/> (as <see cref="Encode{T}(in WireHeader, in T, PooledBufferWriter)"/>
    /// left it) to at least <paramref name="length"/> bytes: sets <see cref="HeaderFlags.Padded"/> and appends zero
    /// bytes and their count. A datagram already that long is left alone. Returns the datagram.
    /// </summary>
    public static ReadOnlySpan<byte> Pad(PooledBufferWriter buffer, int length)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        int written = buffer.WrittenCount;
        if (written >= length || written < WireHeader.Size)
        {
            return buffer.WrittenSpan;
        }

        int padding = Math.Min(Math.Max(length - written - PaddingCountSize, 0), ushort.MaxValue);
        Span<byte> tail = buffer.GetSpan(padding + PaddingCountSize);
        tail[..padding].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(tail[padding..], (ushort)padding);
        buffer.Advance(padding + PaddingCountSize);
        buffer.WrittenBytes[WireHeader.FlagsOffset] |= (byte)HeaderFlags.Padded;
        return buffer.WrittenSpan;
    }

    /// <summary>Reads the header and the body in one step (for tests and tools; the engine switches on the header).</summary>
    public static DecodeStatus TryDecode<T>(ReadOnlyMemory<byte> datagram, in WireContext context, out WireHeader header, out T message)
        where T : struct, IWireMessage<T>
    {
        message = default;
        DecodeStatus status = WireHeader.TryRead(datagram.Span, context, out header);
        return status == DecodeStatus.Ok ? TryDecode(datagram, header, out message) : status;
    }
}
