using Drt.Overlay.Wire;

namespace Drt.Overlay.Routing;

/// <summary>What <see cref="RoutingTable.TryAdd"/> did.</summary>
internal enum RoutingTableAddResult
{
    /// <summary>The node took a free place in its cell.</summary>
    Added,

    /// <summary>The node was already in its cell; its RTT was refreshed.</summary>
    Present,

    /// <summary>The cell was full; the node replaced a slower entry (proximity neighbour selection).</summary>
    Replaced,

    /// <summary>The cell was full of nodes at least as near (by RTT); nothing changed.</summary>
    Full,

    /// <summary>The row already holds the most entries allowed from the node's subnet.</summary>
    SubnetLimit,

    /// <summary>The key is the owner's own.</summary>
    Self,
}

/// <summary>One routing-table entry: the node, the RTT it was chosen by, and its subnet.</summary>
internal readonly record struct RoutingEntry(NodeRef Node, int RttMicros, ulong Subnet);

/// <summary>
/// Pastry's routing table of one registered key, base 16: row r holds nodes whose keys share exactly r hex
/// digits with the owner, in column d the ones whose next digit is d. Each cell keeps up to
/// <see cref="CellCapacity"/> nodes, the nearest by RTT first (proximity neighbour selection), so that a
/// retransmission has an alternative next hop (MSPastry).
/// </summary>
/// <remarks>
/// Rows are allocated on first use: a node in an N-node ring fills about log16 N rows, so most of the 64
/// possible rows never exist. Against routing-table poisoning, a row accepts at most
/// <see cref="MaxPerSubnetPerRow"/> entries from one subnet (/24 IPv4, /48 IPv6; the caller computes it).
/// </remarks>
internal sealed class RoutingTable
{
    /// <summary>Base 16: columns per row.</summary>
    public const int Columns = 16;

    private readonly RoutingEntry[]?[] _rows = new RoutingEntry[]?[Key256.DigitCount];
    private readonly byte[]?[] _cellCounts = new byte[]?[Key256.DigitCount];
    private int _count;

    /// <summary>Creates an empty table for <paramref name="owner"/>.</summary>
    public RoutingTable(Key256 owner, int cellCapacity = 2, int maxPerSubnetPerRow = 4)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(cellCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(cellCapacity, 8);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPerSubnetPerRow, 1);
        Owner = owner;
        CellCapacity = cellCapacity;
        MaxPerSubnetPerRow = maxPerSubnetPerRow;
    }

    /// <summary>The local key whose table this is.</summary>
    public Key256 Owner { get; }

    /// <summary>The most nodes per cell.</summary>
    public int CellCapacity { get; }

    /// <summary>The most entries per row from one subnet.</summary>
    public int MaxPerSubnetPerRow { get; }

    /// <summary>Entries in the whole table.</summary>
    public int Count => _count;

    /// <summary>The entries of one cell, nearest (lowest RTT) first.</summary>
    public ReadOnlySpan<RoutingEntry> Cell(int row, int column)
    {
        RoutingEntry[]? entries = _rows[row];
        return entries is null
            ? default
            : entries.AsSpan(column * CellCapacity, _cellCounts[row]![column]);
    }

    /// <summary>Offers a node to its cell.</summary>
    public RoutingTableAddResult TryAdd(RoutingEntry entry)
    {
        Key256 key = entry.Node.Key;
        int row = Owner.SharedPrefixLength(key);
        if (row == Key256.DigitCount)
        {
            return RoutingTableAddResult.Self;
        }

        int column = key.GetDigit(row);
        RoutingEntry[] entries = _rows[row] ??= new RoutingEntry[Columns * CellCapacity];
        byte[] counts = _cellCounts[row] ??= new byte[Columns];
        int start = column * CellCapacity;
        int count = counts[column];

        for (int i = start; i < start + count; i++)
        {
            if (entries[i].Node.Key == key)
            {
                entries[i] = entry;
                SortCell(entries, start, count);
                return RoutingTableAddResult.Present;
            }
        }

        if (CountSubnet(entries, counts, entry.Subnet) >= MaxPerSubnetPerRow)
        {
            return RoutingTableAddResult.SubnetLimit;
        }

        if (count < CellCapacity)
        {
            entries[start + count] = entry;
            counts[column] = (byte)(count + 1);
            _count++;
            SortCell(entries, start, count + 1);
            return RoutingTableAddResult.Added;
        }

        // Full: replace the slowest when the newcomer is nearer (an unmeasured RTT counts as slowest).
        int last = start + count - 1;
        if (Rank(entry.RttMicros) >= Rank(entries[last].RttMicros))
        {
            return RoutingTableAddResult.Full;
        }

        entries[last] = entry;
        SortCell(entries, start, count);
        return RoutingTableAddResult.Replaced;
    }

    /// <summary>
    /// True when <paramref name="key"/> would be added to a cell with room (not replacing anyone): the cell is not
    /// full, the key is not in it, and its row is under the subnet cap for <paramref name="subnet"/>.
    /// </summary>
    public bool HasRoomFor(Key256 key, ulong subnet)
    {
        int row = Owner.SharedPrefixLength(key);
        if (row == Key256.DigitCount)
        {
            return false;
        }

        if (_rows[row] is not RoutingEntry[] entries)
        {
            return true;
        }

        byte[] counts = _cellCounts[row]!;
        int column = key.GetDigit(row);
        int start = column * CellCapacity;
        for (int i = start; i < start + counts[column]; i++)
        {
            if (entries[i].Node.Key == key)
            {
                return false;
            }
        }

        return counts[column] < CellCapacity && CountSubnet(entries, counts, subnet) < MaxPerSubnetPerRow;
    }

    /// <summary>True when the table holds <paramref name="key"/> at <paramref name="peerId"/>.</summary>
    public bool Contains(Key256 key, int peerId)
    {
        int row = Owner.SharedPrefixLength(key);
        if (row == Key256.DigitCount || _rows[row] is not RoutingEntry[] entries)
        {
            return false;
        }

        int column = key.GetDigit(row);
        int start = column * CellCapacity;
        for (int i = start; i < start + _cellCounts[row]![column]; i++)
        {
            if (entries[i].Node.Key == key && entries[i].Node.PeerId == peerId)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Removes every entry at <paramref name="peerId"/> (a peer declared dead); returns how many.</summary>
    public int RemovePeer(int peerId)
    {
        int removed = 0;
        for (int row = 0; row < _rows.Length; row++)
        {
            if (_rows[row] is not RoutingEntry[] entries)
            {
                continue;
            }

            byte[] counts = _cellCounts[row]!;
            for (int column = 0; column < Columns; column++)
            {
                int start = column * CellCapacity;
                for (int i = start + counts[column] - 1; i >= start; i--)
                {
                    if (entries[i].Node.PeerId == peerId)
                    {
                        RemoveAt(entries, counts, column, i);
                        removed++;
                    }
                }
            }
        }

        return removed;
    }

    /// <summary>Removes a key; false when it was not in the table.</summary>
    public bool Remove(Key256 key)
    {
        int row = Owner.SharedPrefixLength(key);
        if (row == Key256.DigitCount || _rows[row] is not RoutingEntry[] entries)
        {
            return false;
        }

        int column = key.GetDigit(row);
        byte[] counts = _cellCounts[row]!;
        int start = column * CellCapacity;
        int count = counts[column];
        for (int i = start; i < start + count; i++)
        {
            if (entries[i].Node.Key == key)
            {
                RemoveAt(entries, counts, column, i);
                return true;
            }
        }

        return false;
    }

    /// <summary>Removes entry <paramref name="index"/> of a cell, closing the gap so the cell stays nearest first.</summary>
    private void RemoveAt(RoutingEntry[] entries, byte[] counts, int column, int index)
    {
        int start = column * CellCapacity;
        int count = counts[column];
        Array.Copy(entries, index + 1, entries, index, start + count - index - 1);
        entries[start + count - 1] = default;
        counts[column] = (byte)(count - 1);
        _count--;
    }

    /// <summary>
    /// The preferred next hops towards <paramref name="target"/>: the cell for the target's first digit that
    /// differs from the owner's (nearest first). Empty when that cell is empty — the caller then falls back to
    /// <see cref="FindCloser"/> — or when the target is the owner.
    /// </summary>
    public ReadOnlySpan<RoutingEntry> NextHops(Key256 target)
    {
        int row = Owner.SharedPrefixLength(target);
        return row == Key256.DigitCount ? default : Cell(row, target.GetDigit(row));
    }

    /// <summary>
    /// Pastry's rare case, when <see cref="NextHops"/> is empty: the entry numerically closest to
    /// <paramref name="target"/> among those closer to it than the owner. Each such hop strictly shrinks the
    /// distance to the target, so routing cannot loop. Returns false when the owner is the closest key this
    /// table knows.
    /// </summary>
    public bool FindCloser(Key256 target, out RoutingEntry closer)
    {
        closer = default;
        bool found = false;
        Key256 bestKey = Owner;
        for (int row = 0; row < Key256.DigitCount; row++)
        {
            if (_rows[row] is not RoutingEntry[] entries)
            {
                continue;
            }

            byte[] counts = _cellCounts[row]!;
            for (int column = 0; column < Columns; column++)
            {
                int start = column * CellCapacity;
                for (int i = start; i < start + counts[column]; i++)
                {
                    if (Key256.CompareCloseness(target, entries[i].Node.Key, bestKey) < 0)
                    {
                        bestKey = entries[i].Node.Key;
                        closer = entries[i];
                        found = true;
                    }
                }
            }
        }

        return found;
    }

    /// <summary>Copies every entry into <paramref name="destination"/>, row by row; returns how many were written.</summary>
    public int CopyTo(Span<RoutingEntry> destination)
    {
        int written = 0;
        for (int row = 0; row < Key256.DigitCount && written < destination.Length; row++)
        {
            if (_rows[row] is not RoutingEntry[] entries)
            {
                continue;
            }

            byte[] counts = _cellCounts[row]!;
            for (int column = 0; column < Columns && written < destination.Length; column++)
            {
                int start = column * CellCapacity;
                for (int i = start; i < start + counts[column] && written < destination.Length; i++)
                {
                    destination[written++] = entries[i];
                }
            }
        }

        return written;
    }

    private int CountSubnet(RoutingEntry[] entries, byte[] counts, ulong subnet)
    {
        int n = 0;
        for (int column = 0; column < Columns; column++)
        {
            int start = column * CellCapacity;
            for (int i = start; i < start + counts[column]; i++)
            {
                if (entries[i].Subnet == subnet)
                {
                    n++;
                }
            }
        }

        return n;
    }

    // An unmeasured RTT (0) ranks after every measured one.
    private static long Rank(int rttMicros) => rttMicros <= 0 ? long.MaxValue : rttMicros;

    // Insertion sort of one small cell by RTT rank, stable.
    private static void SortCell(RoutingEntry[] entries, int start, int count)
    {
        for (int i = start + 1; i < start + count; i++)
        {
            RoutingEntry e = entries[i];
            int j = i - 1;
            while (j >= start && Rank(entries[j].RttMicros) > Rank(e.RttMicros))
            {
                entries[j + 1] = entries[j];
                j--;
            }

            entries[j + 1] = e;
        }
    }
}
