namespace Drt.Overlay.Engine;

/// <summary>One request awaiting its answer.</summary>
internal struct PendingRequest
{
    /// <summary>The message id the answer must acknowledge.</summary>
    public ulong MessageId;

    /// <summary>The peer asked; an answer from anyone else is not accepted.</summary>
    public int PeerId;

    /// <summary>What was asked (the engine's own request kinds).</summary>
    public byte Kind;

    /// <summary>The operation the request belongs to (a search, a join, a probe round), engine-defined.</summary>
    public int Owner;

    /// <summary>0 for the first transmission, then 1, 2, … for retransmissions.</summary>
    public int Attempt;

    /// <summary>When this transmission was sent, in <see cref="TimeProvider"/> timestamp units.</summary>
    public long SentAt;

    /// <summary>When it times out, in the same units.</summary>
    public long Deadline;
}

/// <summary>What <see cref="PendingRequests.TryComplete"/> found.</summary>
internal enum CompleteResult
{
    /// <summary>The answer matched a pending request, which is now removed.</summary>
    Completed,

    /// <summary>No request with that id is pending (late, duplicate, or forged).</summary>
    Unknown,

    /// <summary>The id is pending but the answer came from another peer: ignored, the request stays.</summary>
    WrongPeer,
}

/// <summary>
/// Requests sent and not yet answered, found by message id, expired through a deadline heap. Bounded:
/// when full, new requests are refused rather than old ones forgotten, so a flood of work cannot make
/// the node lose track of what it is already doing.
/// </summary>
/// <remarks>
/// Removing a request leaves its heap entry behind; a per-slot generation number tells a live entry from
/// a stale one when it reaches the top. Nothing allocates after the slot array and heap reach capacity.
/// </remarks>
internal sealed class PendingRequests
{
    private readonly Dictionary<ulong, int> _byId;
    private readonly PendingRequest[] _slots;
    private readonly int[] _generations;
    private readonly bool[] _used;
    private readonly Stack<int> _free;
    private readonly PriorityQueue<(int Slot, int Generation), long> _deadlines;
    private readonly PriorityQueue<(int Slot, int Generation), long>.UnorderedItemsCollection _deadlineItems;
    private readonly ((int Slot, int Generation) Entry, long Deadline)[] _compactScratch;
    private readonly Func<(int Slot, int Generation), bool> _isLive;

    /// <summary>Creates a table for at most <paramref name="capacity"/> requests at once.</summary>
    public PendingRequests(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _byId = new Dictionary<ulong, int>(capacity);
        _slots = new PendingRequest[capacity];
        _generations = new int[capacity];
        _used = new bool[capacity];
        _free = new Stack<int>(capacity);
        for (int i = capacity - 1; i >= 0; i--)
        {
            _free.Push(i);
        }

        // Room for the live requests and as many stale entries (answered before their deadline) before compacting.
        _deadlines = new PriorityQueue<(int, int), long>(2 * capacity);
        _deadlineItems = _deadlines.UnorderedItems;
        _compactScratch = new ((int, int), long)[capacity];
        _isLive = IsLive;
    }

    /// <summary>The most requests pending at once.</summary>
    public int Capacity { get; }

    /// <summary>Requests pending now.</summary>
    public int Count => _byId.Count;

    /// <summary>The earliest deadline of a pending request, if any (for arming the engine's one timer).</summary>
    public bool TryPeekDeadline(out long deadline)
    {
        while (_deadlines.TryPeek(out (int Slot, int Generation) entry, out deadline))
        {
            if (IsLive(entry))
            {
                return true;
            }

            _deadlines.Dequeue(); // stale: completed or re-armed since
        }

        deadline = 0;
        return false;
    }

    /// <summary>Marks, in <paramref name="marks"/> (indexed by peer id), the peer of every pending request.</summary>
    public void MarkPeers(Span<bool> marks)
    {
        for (int slot = 0; slot < _slots.Length; slot++)
        {
            if (_used[slot])
            {
                Routing.PeerTable.Mark(marks, _slots[slot].PeerId);
            }
        }
    }

    /// <summary>Adds a request; false when the table is full or the id is already pending.</summary>
    public bool TryAdd(in PendingRequest request)
    {
        if (_free.Count == 0 || _byId.ContainsKey(request.MessageId))
        {
            return false;
        }

        int slot = _free.Pop();
        _slots[slot] = request;
        _used[slot] = true;
        _generations[slot]++;
        _byId.Add(request.MessageId, slot);
        if (_deadlines.Count >= (2 * Capacity) - 1)
        {
            CompactDeadlines();
        }

        _deadlines.Enqueue((slot, _generations[slot]), request.Deadline);
        return true;
    }

    /// <summary>
    /// Drops the heap entries of requests answered before their deadline. At thousands of answers a second with
    /// deadlines a second away they would otherwise pile up; this keeps the heap within twice the capacity, so it
    /// never grows (and never allocates) after construction.
    /// </summary>
    private void CompactDeadlines() => QueueCompaction.Compact(_deadlines, _deadlineItems, _compactScratch, _isLive);

    /// <summary>Whether a heap entry still stands for its slot's request (not answered, removed or re-armed since).</summary>
    private bool IsLive((int Slot, int Generation) entry) => _used[entry.Slot] && _generations[entry.Slot] == entry.Generation;

    /// <summary>Finds a pending request without removing it.</summary>
    public bool TryGet(ulong messageId, out PendingRequest request)
    {
        if (_byId.TryGetValue(messageId, out int slot))
        {
            request = _slots[slot];
            return true;
        }

        request = default;
        return false;
    }

    /// <summary>
    /// An answer acknowledging <paramref name="messageId"/> arrived from <paramref name="fromPeerId"/>:
    /// removes and returns the request when it was sent to that peer.
    /// </summary>
    public CompleteResult TryComplete(ulong messageId, int fromPeerId, out PendingRequest request)
    {
        if (!_byId.TryGetValue(messageId, out int slot))
        {
            request = default;
            return CompleteResult.Unknown;
        }

        request = _slots[slot];
        if (request.PeerId != fromPeerId)
        {
            return CompleteResult.WrongPeer;
        }

        Release(messageId, slot);
        return CompleteResult.Completed;
    }

    /// <summary>Removes a request without an answer (its operation was cancelled).</summary>
    public bool Remove(ulong messageId)
    {
        if (!_byId.TryGetValue(messageId, out int slot))
        {
            return false;
        }

        Release(messageId, slot);
        return true;
    }

    /// <summary>
    /// Removes the requests whose deadline is at or before <paramref name="now"/>, earliest first, into
    /// <paramref name="expired"/>; returns how many. Call again while it fills the span.
    /// </summary>
    public int TakeExpired(long now, Span<PendingRequest> expired)
    {
        int n = 0;
        while (n < expired.Length && _deadlines.TryPeek(out (int Slot, int Generation) entry, out long deadline) && deadline <= now)
        {
            _deadlines.Dequeue();
            if (!IsLive(entry))
            {
                continue;
            }

            expired[n++] = _slots[entry.Slot];
            Release(_slots[entry.Slot].MessageId, entry.Slot);
        }

        return n;
    }

    private void Release(ulong messageId, int slot)
    {
        _byId.Remove(messageId);
        _used[slot] = false;
        _slots[slot] = default;
        _free.Push(slot);
    }
}
