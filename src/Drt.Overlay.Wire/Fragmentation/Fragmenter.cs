using Drt.Overlay.Wire.Protocol;
using MessagePack;

namespace Drt.Overlay.Wire.Fragmentation;

/// <summary>
/// Cuts an encoded datagram larger than the datagram cap into <see cref="Fragment"/> datagrams, one at a time, into a
/// caller's buffer: no allocation. Every fragment but the last carries the same chunk size, so a receiver sees
/// offsets at multiples of it.
/// </summary>
internal static class Fragmenter
{
    /// <summary>The chunk size for datagrams of at most <paramref name="maxDatagramSize"/> bytes.</summary>
    public static int ChunkSize(int maxDatagramSize) => Math.Min(maxDatagramSize - Fragment.Overhead, WireLimits.MaxFragmentChunk);

    /// <summary>How many fragments <paramref name="wholeLength"/> bytes take; 1 means no fragmentation is needed.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The whole exceeds <see cref="Fragment.MaxTotal"/> or the datagram cap is too small to fragment.</exception>
    public static int FragmentCount(int wholeLength, int maxDatagramSize)
    {
        if (wholeLength > Fragment.MaxTotal)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(wholeLength), $"A datagram of {wholeLength} bytes exceeds the {Fragment.MaxTotal}-byte cap even in fragments.");
        }

        if (wholeLength <= maxDatagramSize)
        {
            return 1;
        }

        int chunk = ChunkSize(maxDatagramSize);
        if (chunk < 64)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(maxDatagramSize), $"A datagram cap of {maxDatagramSize} bytes leaves no room for fragments.");
        }

        return (wholeLength + chunk - 1) / chunk;
    }

    /// <summary>
    /// Writes fragment <paramref name="index"/> (0-based, below <see cref="FragmentCount"/>) of <paramref name="whole"/>
    /// into a reset <paramref name="output"/> and returns the fragment datagram.
    /// </summary>
    public static ReadOnlySpan<byte> Write(ReadOnlySpan<byte> whole, int index, int maxDatagramSize, PooledBufferWriter output)
    {
        if (whole.Length < WireHeader.Size)
        {
            ThrowHelper.ThrowArgumentException(nameof(whole), "A datagram to fragment starts with a header.");
        }

        int chunk = ChunkSize(maxDatagramSize);
        int offset = index * chunk;
        if (index < 0 || offset >= whole.Length)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(index), $"Fragment {index} does not exist for {whole.Length} bytes.");
        }

        output.Reset();

        // The whole's header, retyped: same magic, version, application, network and message id.
        Span<byte> header = output.GetSpan(WireHeader.Size);
        whole[..WireHeader.Size].CopyTo(header);
        header[WireHeader.TypeOffset] = (byte)MessageType.Fragment;
        header[WireHeader.FlagsOffset] = 0;
        output.Advance(WireHeader.Size);

        var writer = new MessagePackWriter(output);
        writer.WriteArrayHeader(3);
        writer.Write((uint)whole.Length);
        writer.Write((uint)offset);
        writer.Write(whole.Slice(offset, Math.Min(chunk, whole.Length - offset)));
        writer.Flush();
        return output.WrittenSpan;
    }
}
