namespace Drt.Overlay.Simulation;

/// <summary>What a <see cref="SimulatedNetwork"/> carried and dropped, and why. Read on the simulation's thread.</summary>
public sealed class NetworkStatistics
{
    /// <summary>Datagrams handed to the network by a transport (before loss, duplication and drops).</summary>
    public long Sent { get; internal set; }

    /// <summary>Bytes in <see cref="Sent"/>.</summary>
    public long BytesSent { get; internal set; }

    /// <summary>Datagrams handed to a receiver.</summary>
    public long Delivered { get; internal set; }

    /// <summary>Bytes in <see cref="Delivered"/>.</summary>
    public long BytesDelivered { get; internal set; }

    /// <summary>Datagrams dropped by a link's random loss.</summary>
    public long Lost { get; internal set; }

    /// <summary>Extra copies a link's duplication made.</summary>
    public long Duplicated { get; internal set; }

    /// <summary>Datagrams a link held back to reorder them.</summary>
    public long Reordered { get; internal set; }

    /// <summary>Datagrams dropped because sender and receiver were in different partitions when it arrived.</summary>
    public long DroppedByPartition { get; internal set; }

    /// <summary>Datagrams dropped by <see cref="SimulatedNetwork.Filter"/>.</summary>
    public long DroppedByFilter { get; internal set; }

    /// <summary>Datagrams to an address where no transport was, or whose transport crashed or closed before it arrived.</summary>
    public long DroppedUnreachable { get; internal set; }

    /// <summary>Sends refused: larger than the network's datagram cap, a closed or crashed sender, or no route for the address family.</summary>
    public long SendsRefused { get; internal set; }

    /// <summary>Datagrams in flight now.</summary>
    public long InFlight { get; internal set; }
}
