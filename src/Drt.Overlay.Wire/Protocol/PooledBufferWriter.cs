using System.Buffers;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>
/// An <see cref="IBufferWriter{T}"/> over one array rented from <see cref="ArrayPool{T}.Shared"/>, reused for every
/// datagram a thread encodes: <see cref="Reset"/> between datagrams, <see cref="Dispose"/> to return the array.
/// </summary>
/// <remarks>
/// Growth is capped at <see cref="MaxCapacity"/>: every message we encode is bounded by <see cref="WireLimits"/>, so
/// needing more is a bug, reported by a throw. After a grow the smaller array goes back to the pool at once.
/// </remarks>
internal sealed class PooledBufferWriter : IBufferWriter<byte>, IDisposable
{
    /// <summary>The largest buffer this writer grows to: a reassembled message plus a header.</summary>
    public const int MaxCapacity = WireLimits.MaxReassembledMessage + WireHeader.Size;

    private byte[] _buffer;
    private int _written;

    /// <summary>A writer whose first array holds at least <paramref name="initialCapacity"/> bytes.</summary>
    public PooledBufferWriter(int initialCapacity = 2048)
    {
        if (initialCapacity is <= 0 or > MaxCapacity)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(initialCapacity), $"The initial capacity must be in 1..{MaxCapacity}; it was {initialCapacity}.");
        }

        _buffer = ArrayPool<byte>.Shared.Rent(initialCapacity);
    }

    /// <summary>Bytes written since the last <see cref="Reset"/>.</summary>
    public int WrittenCount => _written;

    /// <summary>The bytes written since the last <see cref="Reset"/>.</summary>
    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _written);

    /// <summary>The bytes written since the last <see cref="Reset"/>, as memory (valid until the next write or reset).</summary>
    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _written);

    /// <summary>The bytes written so far, writable (to patch a header after the body is written).</summary>
    public Span<byte> WrittenBytes => _buffer.AsSpan(0, _written);

    /// <summary>Forgets what was written; keeps the array.</summary>
    public void Reset() => _written = 0;

    /// <inheritdoc/>
    public void Advance(int count)
    {
        if ((uint)count > (uint)(_buffer.Length - _written))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(count), $"Cannot advance {count} bytes; {_buffer.Length - _written} are available.");
        }

        _written += count;
    }

    /// <inheritdoc/>
    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_written);
    }

    /// <inheritdoc/>
    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_written);
    }

    /// <summary>Returns the array to the pool. The writer must not be used afterwards.</summary>
    public void Dispose()
    {
        byte[] buffer = _buffer;
        _buffer = [];
        _written = 0;
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void Ensure(int sizeHint)
    {
        int needed = Math.Max(sizeHint, 1);
        if (_buffer.Length - _written >= needed)
        {
            return;
        }

        int required = _written + needed;
        if (required > MaxCapacity)
        {
            ThrowHelper.ThrowInvalidOperation($"An encoded message would exceed {MaxCapacity} bytes; messages are bounded by WireLimits, so this is a bug.");
        }

        byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Min(Math.Max(required, _buffer.Length * 2), MaxCapacity));
        _buffer.AsSpan(0, _written).CopyTo(larger);
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = larger;
    }
}
