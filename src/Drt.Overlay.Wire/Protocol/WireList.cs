using MessagePack;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>A value that can be an element of a <see cref="WireList{T}"/>.</summary>
internal interface IWireElement<T>
    where T : struct, IWireElement<T>
{
    /// <summary>Writes the value.</summary>
    void Write(ref MessagePackWriter writer);

    /// <summary>Reads and validates one value; never throws.</summary>
    static abstract DecodeStatus TryRead(ref WireReader reader, out T value);
}

/// <summary>
/// A list inside a message, without allocating in either direction. A decoded list is a validated slice of the
/// receive buffer, re-parsed on enumeration (every element was checked once at decode, so enumeration cannot
/// fail); a list to encode wraps the sender's own memory.
/// </summary>
internal readonly struct WireList<T>
    where T : struct, IWireElement<T>
{
    private readonly ReadOnlyMemory<byte> _encoded;
    private readonly ReadOnlyMemory<T> _items;
    private readonly bool _isEncoded;

    /// <summary>A list of <paramref name="items"/>, to encode.</summary>
    public WireList(ReadOnlyMemory<T> items)
    {
        _items = items;
        Count = items.Length;
    }

    private WireList(ReadOnlyMemory<byte> encoded, int count)
    {
        _encoded = encoded;
        Count = count;
        _isEncoded = true;
    }

    /// <summary>The number of elements.</summary>
    public int Count { get; }

    /// <summary>Whether the list is empty.</summary>
    public bool IsEmpty => Count == 0;

    /// <summary>Implicit conversion from an array of items to encode.</summary>
    public static implicit operator WireList<T>(T[] items) => new(items);

    /// <summary>Writes the list as an array.</summary>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(Count);
        if (_isEncoded)
        {
            // A decoded list passed on (a path, a leaf set) is already valid MessagePack: copy it as is.
            writer.WriteRaw(_encoded.Span);
            return;
        }

        foreach (ref readonly T item in _items.Span)
        {
            item.Write(ref writer);
        }
    }

    /// <summary>Reads a list of at most <paramref name="max"/> elements (and at least <paramref name="min"/>), validating each.</summary>
    public static DecodeStatus TryRead(ref WireReader reader, int min, int max, out WireList<T> list)
    {
        list = default;
        DecodeStatus status = reader.ReadArrayHeader(min, max, out int count);
        if (status != DecodeStatus.Ok)
        {
            return status;
        }

        int start = reader.Consumed;
        for (int i = 0; i < count; i++)
        {
            status = T.TryRead(ref reader, out _);
            if (status != DecodeStatus.Ok)
            {
                return status;
            }
        }

        list = new WireList<T>(reader.Buffer[start..reader.Consumed], count);
        return DecodeStatus.Ok;
    }

    /// <summary>Copies the elements into <paramref name="destination"/>; returns how many were copied.</summary>
    public int CopyTo(Span<T> destination)
    {
        int n = 0;
        foreach (T item in this)
        {
            if (n == destination.Length)
            {
                break;
            }

            destination[n++] = item;
        }

        return n;
    }

    /// <summary>Enumerates the elements without allocating.</summary>
    public Enumerator GetEnumerator() => new(this);

    /// <summary>A struct enumerator over a <see cref="WireList{T}"/>.</summary>
    public ref struct Enumerator
    {
        private readonly ReadOnlySpan<T> _items;
        private readonly int _count;
        private readonly bool _isEncoded;
        private WireReader _reader;
        private int _index;

        internal Enumerator(WireList<T> list)
        {
            _count = list.Count;
            _isEncoded = list._isEncoded;
            _items = list._isEncoded ? default : list._items.Span;
            _reader = list._isEncoded ? new WireReader(list._encoded) : default;
            _index = -1;
            Current = default;
        }

        /// <summary>The current element.</summary>
        public T Current { get; private set; }

        /// <summary>Moves to the next element.</summary>
        public bool MoveNext()
        {
            if (++_index >= _count)
            {
                return false;
            }

            if (_isEncoded)
            {
                // Validated when the list was decoded, so this cannot fail.
                _ = T.TryRead(ref _reader, out T value);
                Current = value;
            }
            else
            {
                Current = _items[_index];
            }

            return true;
        }
    }
}
