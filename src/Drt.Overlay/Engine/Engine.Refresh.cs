using Drt.Overlay.Routing;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Engine;

/// <summary>
/// Routing-table refresh (periodic, like the rest of maintenance): every <see cref="RefreshRounds"/>th round a key
/// asks one node for the entries of one cell of its table that lacks them — an empty cell first, then one under
/// capacity — in the rows that the network-size estimate says should hold keys. The node asked shares the cell's
/// prefix, so its own table refers the cell's keys; each candidate is verified before admission, and its measured
/// RTT decides whether it replaces a slower entry of a full cell (proximity neighbour selection). Rounds between the
/// fills ask for full cells in turn (for nearer keys) or re-verify an entry in turn (a dead one leaves, a live one
/// gets a fresh RTT).
/// </summary>
internal sealed partial class Engine
{
    private const int RefreshRounds = 4;
    private const int RefreshCandidates = 3;
    private const int RefreshWant = 6;
    private const int JoinFills = 3;
    private const int CellsPerTable = Key256.DigitCount * RoutingTable.Columns;

    private int _refreshCursor;
    private int _refreshTurn;

    /// <summary>Peers with a known address (engine thread).</summary>
    public int KnownPeers => _peers.Count;

    /// <summary>The estimated number of keys in the ring, from the density of the local keys' leaf sets (1 alone).</summary>
    public double EstimatedNetworkSize => NetworkSizeEstimator.Estimate([.. _keys.Select(k => k.LeafSet)]);

    /// <summary>Rows whose cells should hold keys in a ring of <paramref name="size"/>: those expecting at least one per cell.</summary>
    internal static int RowsWorthFilling(double size) =>
        size < 2 ? 0 : Math.Clamp((int)Math.Floor(Math.Log(size, RoutingTable.Columns)), 1, Key256.DigitCount);

    /// <summary>How many cells of <paramref name="local"/>'s table, row by row from the first, should hold keys.</summary>
    private static int CellsWorthFilling(LocalKey local) => RowsWorthFilling(NetworkSizeEstimator.Estimate(local.LeafSet)) * RoutingTable.Columns;

    private void RefreshRoutes(LocalKey local, long now)
    {
        int cells = CellsWorthFilling(local);

        // Every other turn: fill (an empty cell, else one under capacity, skipping cells found barren). Between them,
        // alternately: ask for a cell in turn, so that a nearer key may replace a full cell's slowest entry and a
        // barren cell is asked again; and re-verify an entry in turn, so that a dead one leaves and a live one gets a
        // fresh RTT.
        int turn = _refreshTurn++;
        if (turn % 2 == 0 && FillCell(local, cells, now))
        {
            return;
        }

        if (turn % 4 != 3 && cells > 0 && AskForCell(local, turn / 4 % cells, now))
        {
            local.BarrenCells[turn / 4 % cells] = false; // asked again: the answer decides anew
            return;
        }

        int entries = local.Routes.CopyTo(_scratchRoutes);
        if (entries > 0)
        {
            NodeRef node = _scratchRoutes[turn / 4 % entries].Node;
            Verify(node.Key, node.PeerId, now);
        }
    }

    /// <summary>
    /// A newly placed key asks for a few empty cells at once (rows from the nodes around it, each entry verified),
    /// rather than route badly until the periodic refresh has filled its table.
    /// </summary>
    private void FillOnJoin(LocalKey local, long now)
    {
        int cells = CellsWorthFilling(local);
        for (int i = 0; i < JoinFills; i++)
        {
            if (!FillCell(local, cells, now))
            {
                break;
            }
        }
    }

    /// <summary>Asks for the next empty cell (else one under capacity), skipping cells found barren; false when none.</summary>
    private bool FillCell(LocalKey local, int cells, long now)
    {
        for (int pass = 0; pass < 2; pass++)
        {
            for (int i = 0; i < cells; i++)
            {
                int cell = (_refreshCursor + i) % cells;
                int count = local.Routes.Cell(cell / RoutingTable.Columns, cell % RoutingTable.Columns).Length;
                if ((pass == 0 ? count == 0 : count < local.Routes.CellCapacity) && !local.BarrenCells[cell] && AskForCell(local, cell, now))
                {
                    _refreshCursor = cell + 1;
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>
    /// Sends one lookup for a random key of <paramref name="cell"/> (row × 16 + column) to a random known node that
    /// shares the cell's row of digits with <paramref name="local"/>. False when there is nothing to ask: the cell is
    /// the key's own digit, lies inside the leaf set's arc, or no known node shares that prefix.
    /// </summary>
    private bool AskForCell(LocalKey local, int cell, long now)
    {
        int row = cell / RoutingTable.Columns;
        int column = cell % RoutingTable.Columns;
        if (column == local.Key.GetDigit(row) || InsideLeafSet(local, row, column))
        {
            return false;
        }

        int n = 0;
        int entries = local.Routes.CopyTo(_scratchRoutes);
        for (int i = 0; i < entries && n < _scratchNodes.Length; i++)
        {
            if (local.Key.SharedPrefixLength(_scratchRoutes[i].Node.Key) >= row)
            {
                _scratchNodes[n++] = _scratchRoutes[i].Node;
            }
        }

        // A table with no entry that deep: the leaf set shares the longest prefixes there are.
        foreach (NodeRef m in local.LeafSet.Larger)
        {
            if (n == 0 && m.PeerId != SelfPeerId)
            {
                _scratchNodes[n++] = m;
            }
        }

        if (n == 0)
        {
            return false;
        }

        NodeRef asked = _scratchNodes[_random.Next(n)];
        Key256 target = CellKey(local.Key, row, column, _random);
        var lookup = new Lookup(LookupFlags.None, LookupKind.Nearest, target, Key256.Zero, Key256.MaxValue, RefreshWant, asked.Key, OwnEntryNear(local.Key), default);
        // The request's owner says which key and cell the answer is for (several may be out at once).
        return SendRequest(lookup, asked.PeerId, RequestKind.Refresh, (_keys.IndexOf(local) * CellsPerTable) + cell, 0, NewMessageId(), now, maintenance: true);
    }

    /// <summary>
    /// The answer to a refresh lookup: candidates for any table are learned as usual; those for the refreshed cell
    /// are verified even when it is full, so that a nearer one can replace its slowest entry. At most
    /// <see cref="RefreshCandidates"/> verifications per answer.
    /// </summary>
    private void OnRefreshReply(in LookupReply reply, int owner, long now)
    {
        int keyIndex = owner / CellsPerTable;
        LocalKey? local = keyIndex < _keys.Count ? _keys[keyIndex] : null;
        int row = owner % CellsPerTable / RoutingTable.Columns;
        int column = owner % RoutingTable.Columns;
        int verified = 0;
        int forCell = 0;
        foreach (RouteEntry entry in reply.Entries)
        {
            if (verified == RefreshCandidates || !TryPeerOf(entry.Endpoint, out int peerId) || peerId == SelfPeerId)
            {
                continue;
            }

            bool inCell = local is not null
                && local.Key.SharedPrefixLength(entry.Key) == row
                && entry.Key.GetDigit(row) == column
                && !local.Routes.Contains(entry.Key, peerId);
            forCell += inCell ? 1 : 0;
            if (Learn(entry.Key, peerId, now))
            {
                verified++;
            }
            else if (inCell)
            {
                Verify(entry.Key, peerId, now);
                verified++;
            }
        }

        if (local is not null && forCell == 0)
        {
            local.BarrenCells[(row * RoutingTable.Columns) + column] = true;
        }
    }

    /// <summary>
    /// True when the whole of cell (<paramref name="row"/>, <paramref name="column"/>) lies inside the arc the leaf
    /// set spans: every key there is already a member, so there is nothing to ask for.
    /// </summary>
    private static bool InsideLeafSet(LocalKey local, int row, int column) =>
        !local.LeafSet.IsComplete
        && local.LeafSet.Covers(CellKey(local.Key, row, column, fill: 0x0))
        && local.LeafSet.Covers(CellKey(local.Key, row, column, fill: 0xF));

    /// <summary>
    /// <paramref name="owner"/>'s first <paramref name="row"/> digits, then <paramref name="column"/>, then every
    /// remaining digit random (when <paramref name="random"/> is given) or <paramref name="fill"/>.
    /// </summary>
    private static Key256 CellKey(Key256 owner, int row, int column, Random? random = null, int fill = 0)
    {
        Span<byte> bytes = stackalloc byte[Key256.Size];
        owner.WriteBigEndian(bytes);
        for (int digit = row; digit < Key256.DigitCount; digit++)
        {
            SetDigit(bytes, digit, digit == row ? column : random?.Next(RoutingTable.Columns) ?? fill);
        }

        return Key256.ReadBigEndian(bytes);
    }

    private static void SetDigit(Span<byte> bytes, int digit, int value)
    {
        int i = digit / 2;
        bytes[i] = (digit & 1) == 0 ? (byte)((bytes[i] & 0x0F) | (value << 4)) : (byte)((bytes[i] & 0xF0) | value);
    }
}
