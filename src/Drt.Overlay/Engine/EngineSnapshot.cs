namespace Drt.Overlay.Engine;

/// <summary>
/// Sizes of the engine's tables, published by the engine for readers on other threads (the meter). The tables
/// themselves are the engine thread's alone: a reader walking the key list while a key is added could fault, so the
/// engine copies the sums here instead, after an input that changed a key or a leaf set and otherwise at most every
/// <see cref="Engine.SnapshotPeriodMicros"/> while inputs come (and at each maintenance round when they do not).
/// </summary>
internal sealed class EngineSnapshot
{
    private int _leafSetMembers;
    private int _routingEntries;

    /// <summary>
    /// Members of the leaf sets of every registered key, both sides, summed over the keys (this instance's other keys
    /// count too: they are ring members like any other).
    /// </summary>
    public int LeafSetMembers => Volatile.Read(ref _leafSetMembers);

    /// <summary>Entries of the routing tables of every registered key, summed over the keys.</summary>
    public int RoutingEntries => Volatile.Read(ref _routingEntries);

    /// <summary>Publishes new sums (engine thread).</summary>
    public void Publish(int leafSetMembers, int routingEntries)
    {
        Volatile.Write(ref _leafSetMembers, leafSetMembers);
        Volatile.Write(ref _routingEntries, routingEntries);
    }
}
