using Drt.Overlay.Wire;

namespace Drt.Overlay.Routing;

/// <summary>What <see cref="LeafSet.TryAdd"/> did.</summary>
internal enum LeafSetAddResult
{
    /// <summary>The key entered at least one side.</summary>
    Added,

    /// <summary>The key was already there; its peer was refreshed.</summary>
    Present,

    /// <summary>Both sides are full of keys closer to the owner.</summary>
    TooFar,

    /// <summary>The key is the owner's own.</summary>
    Self,
}

/// <summary>
/// The leaf set of one registered key: its nearest registered keys clockwise (the larger side) and
/// counter-clockwise (the smaller side), up to <see cref="SideCapacity"/> each, nearest first.
/// </summary>
/// <remarks>
/// The two sides are filled independently, each with the nearest keys in its own direction, as Pastry does.
/// While the ring holds fewer than 2·capacity + 1 keys a key can therefore sit on both sides (the ring wraps
/// round); then the leaf set knows every key, and <see cref="Covers"/> is true for every target.
/// Keys, not peers, are members: one peer with three registered keys takes three places.
/// </remarks>
internal sealed class LeafSet
{
    /// <summary>DRT's leaf set: 5 keys on each side.</summary>
    public const int MinSideCapacity = 5;

    /// <summary>The largest side we allow.</summary>
    public const int MaxSideCapacity = 16;

    /// <summary>Our default: 8 keys on each side.</summary>
    public const int DefaultSideCapacity = 8;

    private readonly NodeRef[] _larger;
    private readonly NodeRef[] _smaller;
    private int _largerCount;
    private int _smallerCount;

    /// <summary>Creates an empty leaf set for <paramref name="owner"/>.</summary>
    public LeafSet(Key256 owner, int sideCapacity = DefaultSideCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sideCapacity, MinSideCapacity);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(sideCapacity, MaxSideCapacity);
        Owner = owner;
        SideCapacity = sideCapacity;
        _larger = new NodeRef[sideCapacity];
        _smaller = new NodeRef[sideCapacity];
    }

    /// <summary>The local key this leaf set belongs to.</summary>
    public Key256 Owner { get; }

    /// <summary>The most keys on each side.</summary>
    public int SideCapacity { get; }

    /// <summary>The larger (clockwise) side, nearest first.</summary>
    public ReadOnlySpan<NodeRef> Larger => _larger.AsSpan(0, _largerCount);

    /// <summary>The smaller (counter-clockwise) side, nearest first.</summary>
    public ReadOnlySpan<NodeRef> Smaller => _smaller.AsSpan(0, _smallerCount);

    /// <summary>True when no other key is known.</summary>
    public bool IsEmpty => _largerCount == 0 && _smallerCount == 0;

    /// <summary>
    /// True when the set holds every key of the ring (as far as we know): a side has room, or the two sides
    /// meet (a key sits on both). Then the owner's range is decided by the keys present.
    /// </summary>
    public bool IsComplete
    {
        get
        {
            if (_largerCount < SideCapacity || _smallerCount < SideCapacity)
            {
                return true;
            }

            // Both sides full: they meet exactly when the farthest larger key is also on the smaller side.
            return IndexOf(_smaller, _smallerCount, _larger[_largerCount - 1].Key) >= 0;
        }
    }

    /// <summary>Adds or refreshes a key, evicting the farthest of a full side when the new key is nearer.</summary>
    public LeafSetAddResult TryAdd(NodeRef node)
    {
        if (node.Key == Owner)
        {
            return LeafSetAddResult.Self;
        }

        bool present = Refresh(_larger, _largerCount, node) | Refresh(_smaller, _smallerCount, node);
        if (present)
        {
            return LeafSetAddResult.Present;
        }

        // A full side drops its farthest key to make room; it leaves the set unless the other side holds it too.
        NodeRef? farLarger = _largerCount == _larger.Length ? _larger[^1] : null;
        NodeRef? farSmaller = _smallerCount == _smaller.Length ? _smaller[^1] : null;
        bool intoLarger = Insert(_larger, ref _largerCount, node, Key256.ClockwiseDistance(Owner, node.Key), clockwise: true);
        bool intoSmaller = Insert(_smaller, ref _smallerCount, node, Key256.ClockwiseDistance(node.Key, Owner), clockwise: false);
        if (!intoLarger && !intoSmaller)
        {
            return LeafSetAddResult.TooFar;
        }

        Changed?.Invoke(node, true);
        ReportIfGone(intoLarger ? farLarger : null);
        ReportIfGone(intoSmaller && farSmaller?.Key != (intoLarger ? farLarger?.Key : null) ? farSmaller : null);
        return LeafSetAddResult.Added;
    }

    /// <summary>
    /// Called with a node that joined the set (true) or left it (false): added, evicted by a nearer key, or removed.
    /// A key on both sides counts once.
    /// </summary>
    public Action<NodeRef, bool>? Changed { get; set; }

    /// <summary>Removes a key from both sides; false when it was not there.</summary>
    public bool Remove(Key256 key)
    {
        int i = IndexOf(_larger, _largerCount, key);
        NodeRef node = i >= 0 ? _larger[i] : default;
        int j = IndexOf(_smaller, _smallerCount, key);
        node = j >= 0 ? _smaller[j] : node;
        if (!(RemoveFrom(_larger, ref _largerCount, key) | RemoveFrom(_smaller, ref _smallerCount, key)))
        {
            return false;
        }

        Changed?.Invoke(node, false);
        return true;
    }

    private void ReportIfGone(NodeRef? evicted)
    {
        if (evicted is { } gone && !Contains(gone.Key))
        {
            Changed?.Invoke(gone, false);
        }
    }

    /// <summary>
    /// True when <see cref="TryAdd"/> would add <paramref name="key"/>: it is not the owner or a member, and a side has
    /// room for it or holds a farther key it would evict.
    /// </summary>
    public bool WouldAdd(Key256 key)
    {
        if (key == Owner || Contains(key))
        {
            return false;
        }

        return _largerCount < _larger.Length || _smallerCount < _smaller.Length
            || Key256.ClockwiseDistance(Owner, key) < Key256.ClockwiseDistance(Owner, _larger[_largerCount - 1].Key)
            || Key256.ClockwiseDistance(key, Owner) < Key256.ClockwiseDistance(_smaller[_smallerCount - 1].Key, Owner);
    }

    /// <summary>True when <paramref name="key"/> is a member (on either side).</summary>
    public bool Contains(Key256 key) => IndexOf(_larger, _largerCount, key) >= 0 || IndexOf(_smaller, _smallerCount, key) >= 0;

    /// <summary>
    /// True when <paramref name="target"/> lies within the arc the leaf set spans, from its farthest smaller key
    /// to its farthest larger key: then the key closest to the target is the owner or a member. Always true
    /// while <see cref="IsComplete"/>.
    /// </summary>
    public bool Covers(Key256 target)
    {
        if (IsComplete)
        {
            return true;
        }

        return Key256.IsBetween(target, _smaller[_smallerCount - 1].Key, _larger[_largerCount - 1].Key);
    }

    /// <summary>
    /// The member or owner closest to <paramref name="target"/> (ties as <see cref="Key256.CompareCloseness"/>);
    /// <paramref name="isOwner"/> says the owner itself is closest.
    /// </summary>
    public NodeRef ClosestTo(Key256 target, int ownerPeerId, out bool isOwner)
    {
        NodeRef best = new(Owner, ownerPeerId);
        isOwner = true;
        foreach (NodeRef n in Larger)
        {
            if (Key256.CompareCloseness(target, n.Key, best.Key) < 0)
            {
                best = n;
                isOwner = false;
            }
        }

        foreach (NodeRef n in Smaller)
        {
            if (Key256.CompareCloseness(target, n.Key, best.Key) < 0)
            {
                best = n;
                isOwner = false;
            }
        }

        return best;
    }

    private static bool Refresh(NodeRef[] side, int count, NodeRef node)
    {
        int i = IndexOf(side, count, node.Key);
        if (i < 0)
        {
            return false;
        }

        side[i] = node;
        return true;
    }

    private static int IndexOf(NodeRef[] side, int count, Key256 key)
    {
        for (int i = 0; i < count; i++)
        {
            if (side[i].Key == key)
            {
                return i;
            }
        }

        return -1;
    }

    // Keeps the side sorted nearest first by the distance in its own direction.
    private bool Insert(NodeRef[] side, ref int count, NodeRef node, Key256 distance, bool clockwise)
    {
        int position = count;
        while (position > 0 && distance < DistanceOf(side[position - 1].Key, clockwise))
        {
            position--;
        }

        if (position == side.Length)
        {
            return false;
        }

        int moved = Math.Min(count, side.Length - 1) - position;
        if (moved > 0)
        {
            Array.Copy(side, position, side, position + 1, moved);
        }

        side[position] = node;
        count = Math.Min(count + 1, side.Length);
        return true;
    }

    private Key256 DistanceOf(Key256 key, bool clockwise) =>
        clockwise ? Key256.ClockwiseDistance(Owner, key) : Key256.ClockwiseDistance(key, Owner);

    private static bool RemoveFrom(NodeRef[] side, ref int count, Key256 key)
    {
        int i = IndexOf(side, count, key);
        if (i < 0)
        {
            return false;
        }

        Array.Copy(side, i + 1, side, i, count - i - 1);
        count--;
        side[count] = default;
        return true;
    }
}
