using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Wire.Fragmentation;

/// <summary>What <see cref="Reassembler.Accept"/> did with a fragment.</summary>
internal enum ReassemblyResult : byte
{
    /// <summary>Stored; the message is not complete yet.</summary>
    Stored,

    /// <summary>The message is complete: the whole datagram is in the out parameter.</summary>
    Completed,

    /// <summary>An exact repeat of bytes already held; ignored.</summary>
    Duplicate,

    /// <summary>
    /// The fragment disagreed with what its message already held (another total, overlapping bytes that differ, a
    /// whole whose header does not match): the fragment and the whole reassembly were dropped.
    /// </summary>
    Inconsistent,

    /// <summary>The message came in more pieces than <see cref="ReassemblyLimits.MaxFragmentsPerMessage"/>; dropped.</summary>
    TooManyFragments,
}

/// <summary>The bounds of a <see cref="Reassembler"/>'s state.</summary>
internal sealed record ReassemblyLimits
{
    /// <summary>Messages being reassembled at once. Default 64.</summary>
    public int MaxReassemblies { get; init; } = 64;

    /// <summary>Bytes buffered for all reassemblies together (each counts its whole total). Default 512 KiB.</summary>
    public int MaxBufferedBytes { get; init; } = 512 * 1024;

    /// <summary>Reassemblies one source address may have in progress. Default 8.</summary>
    public int MaxPerSource { get; init; } = 8;

    /// <summary>Distinct byte ranges one message may arrive in. Default 64 (a 37 KB whole in 1,198-byte chunks takes 32).</summary>
    public int MaxFragmentsPerMessage { get; init; } = 64;

    /// <summary>How long a reassembly may take from its first fragment, in microseconds. Default 1 s.</summary>
    public long LifetimeMicros { get; init; } = 1_000_000;
}

/// <summary>
/// Puts fragmented datagrams back together, with bounded state: a fixed table of reassemblies, a byte budget, a cap
/// per source and a lifetime. Time comes in as <c>now</c> (microseconds); nothing here reads a clock.
/// </summary>
/// <remarks>
/// <para>
/// A reassembly is keyed by (source address bytes, message id). When a new one does not fit — the table is full, the
/// byte budget is spent, or its source already has <see cref="ReassemblyLimits.MaxPerSource"/> — the oldest
/// reassemblies (of that source, for the per-source cap) are evicted. Honest fragments arrive back to back, so
/// a legitimate message needs its slot for a few milliseconds; evicting the oldest lets it through a flood of
/// bogus first fragments, where refusing new work would lock it out for a whole lifetime.
/// </para>
/// <para>
/// Buffers come from <see cref="ArrayPool{T}.Shared"/> and go back on completion, expiry or eviction; the table
/// and range lists are allocated once. A completed whole stays valid until the next call into the reassembler.
/// Single-threaded (the engine's thread). Never throws on hostile input: every fragment was validated by
/// <see cref="Fragment.TryRead"/>, and disagreement drops the reassembly.
/// </para>
/// </remarks>
internal sealed class Reassembler : IDisposable
{
    private const int MaxSourceBytes = 28; // sockaddr_in6

    private readonly ReassemblyLimits _limits;
    private readonly Entry[] _entries;
    private byte[]? _completed;
    private int _active;
    private int _bufferedBytes;

    /// <summary>Creates an empty reassembler.</summary>
    public Reassembler(ReassemblyLimits? limits = null)
    {
        _limits = limits ?? new ReassemblyLimits();
        if (_limits.MaxReassemblies < 1 || _limits.MaxPerSource < 1 || _limits.MaxFragmentsPerMessage < 2 || _limits.LifetimeMicros <= 0
            || _limits.MaxBufferedBytes < Fragment.MaxTotal)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(limits), $"Reassembly limits must allow at least one whole message of {Fragment.MaxTotal} bytes in two or more pieces, with a positive lifetime.");
        }

        _entries = new Entry[_limits.MaxReassemblies];
        for (int i = 0; i < _entries.Length; i++)
        {
            _entries[i] = new Entry(_limits.MaxFragmentsPerMessage);
        }
    }

    /// <summary>Reassemblies in progress.</summary>
    public int Active => _active;

    /// <summary>Bytes held for reassemblies in progress (their totals).</summary>
    public int BufferedBytes => _bufferedBytes;

    /// <summary>When the oldest reassembly expires (microseconds), or <see cref="long.MaxValue"/> when none is in progress.</summary>
    public long NextExpiry
    {
        get
        {
            long next = long.MaxValue;
            foreach (Entry entry in _entries)
            {
                if (entry.InUse)
                {
                    next = Math.Min(next, entry.Started + _limits.LifetimeMicros);
                }
            }

            return next;
        }
    }

    /// <summary>Messages completed.</summary>
    public long Completed { get; private set; }

    /// <summary>Exact repeats ignored.</summary>
    public long Duplicates { get; private set; }

    /// <summary>Reassemblies dropped because their fragments disagreed.</summary>
    public long Inconsistent { get; private set; }

    /// <summary>Reassemblies dropped for arriving in too many pieces.</summary>
    public long TooManyFragments { get; private set; }

    /// <summary>Reassemblies evicted to make room for newer ones.</summary>
    public long Evicted { get; private set; }

    /// <summary>Reassemblies that did not complete within their lifetime.</summary>
    public long Expired { get; private set; }

    /// <summary>
    /// Takes one fragment of message <paramref name="messageId"/> from <paramref name="source"/>. On
    /// <see cref="ReassemblyResult.Completed"/>, <paramref name="whole"/> is the complete datagram (header and body),
    /// valid until the next call into this reassembler; decode it as if it had arrived in one piece.
    /// </summary>
    public ReassemblyResult Accept(SocketAddress source, ulong messageId, in Fragment fragment, long now, out ReadOnlyMemory<byte> whole)
    {
        whole = default;
        ReleaseCompleted();
        Expire(now);

        ReadOnlySpan<byte> sourceBytes = source.Buffer.Span[..Math.Min(source.Size, MaxSourceBytes)];
        Entry? entry = Find(sourceBytes, messageId);
        if (entry is null)
        {
            entry = Start(sourceBytes, messageId, fragment.Total, now);
        }
        else if (entry.Total != fragment.Total)
        {
            Drop(entry);
            Inconsistent++;
            return ReassemblyResult.Inconsistent;
        }

        ReassemblyResult result = entry.Add(fragment.Offset, fragment.Chunk.Span);
        switch (result)
        {
            case ReassemblyResult.Duplicate:
                Duplicates++;
                return result;
            case ReassemblyResult.Inconsistent:
                Drop(entry);
                Inconsistent++;
                return result;
            case ReassemblyResult.TooManyFragments:
                Drop(entry);
                TooManyFragments++;
                return result;
            case ReassemblyResult.Stored when !entry.IsComplete:
                return result;
            default:
                break;
        }

        // Complete. The whole must be what its fragments claimed: same message id, not itself a fragment.
        ReadOnlySpan<byte> bytes = entry.Buffer.AsSpan(0, entry.Total);
        if (BinaryPrimitives.ReadUInt64BigEndian(bytes[WireHeader.MessageIdOffset..]) != messageId
            || bytes[WireHeader.TypeOffset] == (byte)MessageType.Fragment)
        {
            Drop(entry);
            Inconsistent++;
            return ReassemblyResult.Inconsistent;
        }

        _completed = entry.Buffer;
        whole = _completed.AsMemory(0, entry.Total);
        Free(entry, returnBuffer: false);
        Completed++;
        return ReassemblyResult.Completed;
    }

    /// <summary>Drops reassemblies older than the lifetime; returns how many.</summary>
    public int Expire(long now)
    {
        int expired = 0;
        foreach (Entry entry in _entries)
        {
            if (entry.InUse && now - entry.Started >= _limits.LifetimeMicros)
            {
                Drop(entry);
                expired++;
            }
        }

        Expired += expired;
        return expired;
    }

    /// <summary>Returns every buffer to the pool.</summary>
    public void Dispose()
    {
        ReleaseCompleted();
        foreach (Entry entry in _entries)
        {
            if (entry.InUse)
            {
                Drop(entry);
            }
        }
    }

    private Entry? Find(ReadOnlySpan<byte> source, ulong messageId)
    {
        foreach (Entry entry in _entries)
        {
            if (entry.InUse && entry.MessageId == messageId && entry.SourceSpan.SequenceEqual(source))
            {
                return entry;
            }
        }

        return null;
    }

    private Entry Start(ReadOnlySpan<byte> source, ulong messageId, int total, long now)
    {
        // Per-source cap first, then the table and the byte budget; each evicts the oldest that qualifies.
        while (CountFrom(source) >= _limits.MaxPerSource)
        {
            Evict(Oldest(source));
        }

        while (_active >= _entries.Length || _bufferedBytes + total > _limits.MaxBufferedBytes)
        {
            Evict(Oldest(default));
        }

        Entry free = _entries[0];
        foreach (Entry entry in _entries)
        {
            if (!entry.InUse)
            {
                free = entry;
                break;
            }
        }

        free.Begin(source, messageId, total, now, ArrayPool<byte>.Shared.Rent(total));
        _active++;
        _bufferedBytes += total;
        return free;
    }

    private int CountFrom(ReadOnlySpan<byte> source)
    {
        int count = 0;
        foreach (Entry entry in _entries)
        {
            if (entry.InUse && entry.SourceSpan.SequenceEqual(source))
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>The oldest reassembly in progress, of <paramref name="source"/> when it is not empty.</summary>
    private Entry Oldest(ReadOnlySpan<byte> source)
    {
        Entry? oldest = null;
        foreach (Entry entry in _entries)
        {
            if (entry.InUse && (source.IsEmpty || entry.SourceSpan.SequenceEqual(source)) && (oldest is null || entry.Started < oldest.Started))
            {
                oldest = entry;
            }
        }

        return oldest!;
    }

    private void Evict(Entry entry)
    {
        Drop(entry);
        Evicted++;
    }

    private void Drop(Entry entry) => Free(entry, returnBuffer: true);

    private void Free(Entry entry, bool returnBuffer)
    {
        if (returnBuffer)
        {
            ArrayPool<byte>.Shared.Return(entry.Buffer);
        }

        _active--;
        _bufferedBytes -= entry.Total;
        entry.End();
    }

    private void ReleaseCompleted()
    {
        if (_completed is not null)
        {
            ArrayPool<byte>.Shared.Return(_completed);
            _completed = null;
        }
    }

    /// <summary>One message being reassembled: its buffer and the sorted, disjoint byte ranges received.</summary>
    private sealed class Entry(int maxRanges)
    {
        private readonly byte[] _source = new byte[MaxSourceBytes];
        private readonly int[] _starts = new int[maxRanges];
        private readonly int[] _ends = new int[maxRanges];
        private int _sourceLength;
        private int _ranges;

        public bool InUse { get; private set; }

        public ulong MessageId { get; private set; }

        public int Total { get; private set; }

        public long Started { get; private set; }

        public byte[] Buffer { get; private set; } = [];

        public ReadOnlySpan<byte> SourceSpan => _source.AsSpan(0, _sourceLength);

        public bool IsComplete => _ranges == 1 && _starts[0] == 0 && _ends[0] == Total;

        public void Begin(ReadOnlySpan<byte> source, ulong messageId, int total, long now, byte[] buffer)
        {
            source.CopyTo(_source);
            _sourceLength = source.Length;
            MessageId = messageId;
            Total = total;
            Started = now;
            Buffer = buffer;
            _ranges = 0;
            InUse = true;
        }

        public void End()
        {
            InUse = false;
            Buffer = [];
            _ranges = 0;
        }

        /// <summary>
        /// Adds bytes at <paramref name="offset"/>. Bytes that overlap what is held must equal it; an overlap that
        /// adds nothing is a duplicate.
        /// </summary>
        public ReassemblyResult Add(int offset, ReadOnlySpan<byte> chunk)
        {
            int end = offset + chunk.Length;
            bool addsBytes = false;
            int cursor = offset;

            // Walk the ranges in order: held bytes must match, gaps are new.
            for (int i = 0; i < _ranges && cursor < end; i++)
            {
                if (_ends[i] <= cursor)
                {
                    continue;
                }

                if (_starts[i] >= end)
                {
                    break;
                }

                if (_starts[i] > cursor)
                {
                    addsBytes = true; // a gap before this range
                }

                int from = Math.Max(_starts[i], offset);
                int to = Math.Min(_ends[i], end);
                if (!chunk.Slice(from - offset, to - from).SequenceEqual(Buffer.AsSpan(from, to - from)))
                {
                    return ReassemblyResult.Inconsistent;
                }

                cursor = to;
            }

            if (cursor < end)
            {
                addsBytes = true;
            }

            if (!addsBytes)
            {
                return ReassemblyResult.Duplicate;
            }

            if (!Insert(offset, end))
            {
                return ReassemblyResult.TooManyFragments;
            }

            chunk.CopyTo(Buffer.AsSpan(offset));
            return ReassemblyResult.Stored;
        }

        /// <summary>Merges [start, end) into the sorted ranges; false when that would need more than the cap.</summary>
        private bool Insert(int start, int end)
        {
            // First range that touches or follows the new one, last range that touches it.
            int first = 0;
            while (first < _ranges && _ends[first] < start)
            {
                first++;
            }

            int last = first;
            while (last < _ranges && _starts[last] <= end)
            {
                last++;
            }

            // Ranges [first, last) touch the new one and merge into it.
            int mergedStart = first < last ? Math.Min(start, _starts[first]) : start;
            int mergedEnd = first < last ? Math.Max(end, _ends[last - 1]) : end;
            int newCount = _ranges - (last - first) + 1;
            if (newCount > _starts.Length)
            {
                return false;
            }

            int shift = 1 - (last - first);
            if (shift != 0)
            {
                Array.Copy(_starts, last, _starts, last + shift, _ranges - last);
                Array.Copy(_ends, last, _ends, last + shift, _ranges - last);
            }

            _starts[first] = mergedStart;
            _ends[first] = mergedEnd;
            _ranges = newCount;
            return true;
        }
    }
}
