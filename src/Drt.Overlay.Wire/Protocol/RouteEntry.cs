using System.Runtime.CompilerServices;
using MessagePack;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>
/// A key and the endpoint of the node that registered it: Pastry's node handle, what routing tables, leaf sets and
/// lookup replies carry. On the wire: [key (bin 32), endpoint].
/// </summary>
/// <param name="Key">The registered key.</param>
/// <param name="Endpoint">Where the node that registered it receives datagrams.</param>
internal readonly record struct RouteEntry(Key256 Key, WireEndpoint Endpoint) : IWireElement<RouteEntry>
{
    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(2);
        WireWriter.WriteKey(ref writer, Key);
        Endpoint.Write(ref writer);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out RouteEntry value)
    {
        value = default;
        DecodeStatus status = reader.ReadFields(2);
        if (status == DecodeStatus.Ok)
        {
            status = reader.ReadKey(out Key256 key);
            if (status == DecodeStatus.Ok)
            {
                status = WireEndpoint.TryRead(ref reader, out WireEndpoint endpoint);
                value = new RouteEntry(key, endpoint);
            }
        }

        return status;
    }

    /// <summary>Writes an optional entry: nil when <paramref name="entry"/> is null.</summary>
    public static void WriteOptional(ref MessagePackWriter writer, in RouteEntry? entry)
    {
        if (entry is { } value)
        {
            value.Write(ref writer);
        }
        else
        {
            writer.WriteNil();
        }
    }

    /// <summary>Reads an optional entry (nil → null).</summary>
    public static DecodeStatus TryReadOptional(ref WireReader reader, out RouteEntry? value)
    {
        value = null;
        if (reader.NextIsNil)
        {
            return reader.ReadNil();
        }

        DecodeStatus status = TryRead(ref reader, out RouteEntry entry);
        if (status == DecodeStatus.Ok)
        {
            value = entry;
        }

        return status;
    }
}

/// <summary>A bare key as a list element (advertise and request carry lists of keys).</summary>
/// <param name="Key">The key.</param>
internal readonly record struct WireKey(Key256 Key) : IWireElement<WireKey>
{
    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer) => WireWriter.WriteKey(ref writer, Key);

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out WireKey value)
    {
        DecodeStatus status = reader.ReadKey(out Key256 key);
        value = new WireKey(key);
        return status;
    }
}

/// <summary>Writing helpers shared by the message codecs.</summary>
internal static class WireWriter
{
    /// <summary>Writes a key as a 32-byte binary value, most significant byte first.</summary>
    /// <remarks>
    /// Not inlined on purpose, like <see cref="WireEndpoint.Write"/>: inlined into every message writer, these
    /// exhausted the JIT's per-method inlining budget, after which even span slicing became calls (measured: a list
    /// of 4 endpoints took 48 ns instead of 18).
    /// </remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void WriteKey(ref MessagePackWriter writer, Key256 key)
    {
        // bin8 header and the 32 bytes in one reservation: keys are most of every message.
        Span<byte> span = writer.GetSpan(2 + Key256.Size);
        span[0] = MessagePackCode.Bin8;
        span[1] = Key256.Size;
        key.WriteBigEndian(span.Slice(2, Key256.Size));
        writer.Advance(2 + Key256.Size);
    }

    /// <summary>Writes a binary value, or nil when it is empty (optional fixed-length fields).</summary>
    public static void WriteOptionalBinary(ref MessagePackWriter writer, ReadOnlyMemory<byte> value)
    {
        if (value.IsEmpty)
        {
            writer.WriteNil();
        }
        else
        {
            writer.Write(value.Span);
        }
    }
}
