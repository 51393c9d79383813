using Drt.Overlay.Wire.Protocol;
using MessagePack;

namespace Drt.Overlay.Wire.Fragmentation;

/// <summary>
/// One piece of a datagram too large to send whole. Body: <c>[total, offset, chunk]</c>, where the whole is the
/// complete encoded datagram (its own header included) of <paramref name="Total"/> bytes and <paramref name="Chunk"/>
/// its bytes from <paramref name="Offset"/>. The fragment's header repeats the whole's, with type
/// <see cref="MessageType.Fragment"/> and no flags, so fragments of one message share its message id.
/// </summary>
/// <param name="Total">Length of the whole datagram: more than one fragment can carry, at most <see cref="MaxTotal"/>.</param>
/// <param name="Offset">Where <paramref name="Chunk"/> starts in the whole.</param>
/// <param name="Chunk">The bytes: non-empty, ending at or before <paramref name="Total"/>; a slice of the received datagram.</param>
internal readonly record struct Fragment(int Total, int Offset, ReadOnlyMemory<byte> Chunk) : IWireMessage<Fragment>
{
    /// <summary>The largest whole datagram: DRT's 37,348-byte message cap plus our header.</summary>
    public const int MaxTotal = WireLimits.MaxReassembledMessage + WireHeader.Size;

    /// <summary>
    /// Bytes a fragment datagram spends on anything but its chunk, at most: the header, the array header, two
    /// 5-byte uint32s and a 3-byte bin16 header.
    /// </summary>
    public const int Overhead = WireHeader.Size + 1 + 5 + 5 + 3;

    /// <inheritdoc/>
    public static MessageType Type => MessageType.Fragment;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(3);
        writer.Write((uint)Total);
        writer.Write((uint)Offset);
        writer.Write(Chunk.Span);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out Fragment value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(3)) != DecodeStatus.Ok
            || (s = reader.ReadUInt32(out uint total)) != DecodeStatus.Ok
            || (s = reader.ReadUInt32(out uint offset)) != DecodeStatus.Ok)
        {
            return s;
        }

        if (total > MaxTotal)
        {
            return DecodeStatus.TooLarge;
        }

        if ((s = reader.ReadBinary(1, WireLimits.MaxFragmentChunk, out ReadOnlyMemory<byte> chunk)) != DecodeStatus.Ok)
        {
            return s;
        }

        // A whole is at least a header; a chunk that is the whole was never fragmented; a chunk ends inside the whole.
        if (total <= WireHeader.Size || chunk.Length >= total || offset > total - (uint)chunk.Length)
        {
            return DecodeStatus.Malformed;
        }

        value = new Fragment((int)total, (int)offset, chunk);
        return DecodeStatus.Ok;
    }
}
