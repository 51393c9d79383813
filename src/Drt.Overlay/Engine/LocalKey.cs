using Drt.Overlay.Routing;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Engine;

/// <summary>
/// A key this instance registered: a member of the ring with its own leaf set and prefix routing table
/// (DESIGN §1: every registered key is a ring member), and the application data it publishes.
/// </summary>
internal sealed class LocalKey
{
    /// <summary>Creates the state of a newly registered key.</summary>
    public LocalKey(Key256 key, byte[] appData, int leafSetSide, byte[]? classifier = null)
    {
        Key = key;
        AppData = appData;
        Classifier = classifier ?? [];
        LeafSet = new LeafSet(key, leafSetSide);
        Routes = new RoutingTable(key);
    }

    /// <summary>The key.</summary>
    public Key256 Key { get; }

    /// <summary>The application data published with it (replaced by update).</summary>
    public byte[] AppData { get; set; }

    /// <summary>The classifier (UTF-8) the key is derived under in secure modes; carried in the record.</summary>
    public byte[] Classifier { get; }

    /// <summary>
    /// The record as it goes on the wire (secure modes: signed; Engine.Records.cs), re-signed on every update and
    /// renewal; null in mode None, where answers are built from the fields.
    /// </summary>
    public SignedRecord? Record { get; set; }

    /// <summary>The record's digest, which nonce proofs bind (secure modes).</summary>
    public byte[] Digest { get; } = new byte[32];

    /// <summary>Engine time (µs) at which the record is re-signed; long.MaxValue when it never is.</summary>
    public long RenewAt { get; set; } = long.MaxValue;

    /// <summary>True once the record expired without a renewal: the provider could not vouch for it (event raised).</summary>
    public bool Unresolvable { get; set; }

    /// <summary>Incremented on every update, so peers can tell newer records from older.</summary>
    public ulong Sequence { get; set; } = 1;

    /// <summary>The nearest registered keys on each side.</summary>
    public LeafSet LeafSet { get; }

    /// <summary>Prefix routing table centred on this key.</summary>
    public RoutingTable Routes { get; }

    /// <summary>
    /// Whether a search has placed the key among its neighbours and announced it; until then maintenance searches
    /// again.
    /// </summary>
    public bool Placed { get; set; }

    /// <summary>Whether the search that places the key is under way.</summary>
    public bool Placing { get; set; }

    /// <summary>
    /// True from registration in a ring until the key has heard from every leaf-set member that it is in the member's
    /// leaf set too, or declared it dead (MSPastry's consistent join). Meanwhile it is not the root of anything: routed
    /// messages for its range wait, and its lookup answers do not claim to cover the target.
    /// </summary>
    public bool Joining { get; set; }

    /// <summary>The members known to list this key in their own leaf sets (used while <see cref="Joining"/>).</summary>
    public HashSet<Key256> HeardFrom { get; } = [];

    /// <summary>Follow-up leaf-set exchanges still to run after a member left.</summary>
    public int RepairRounds { get; set; }

    /// <summary>Rounds of confirmation requests sent while <see cref="Joining"/>.</summary>
    public int ConfirmRounds { get; set; }

    /// <summary>
    /// Routing-table cells (row × 16 + column) a refresh asked for and got no new key: probably empty in the ring, so
    /// the filling passes skip them; the all-full rounds ask again in turn.
    /// </summary>
    public System.Collections.BitArray BarrenCells { get; } = new(Key256.DigitCount * RoutingTable.Columns);
}
