using MessagePack;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>
/// Asks a node for the leaf set of one of its keys: the periodic leaf-set probe and the source of repairs. The
/// sender's entry lets a neighbour that lost it take it back. Body: [validate key, sender entry or nil].
/// </summary>
/// <param name="ValidateKey">The receiver's key whose leaf set is asked for.</param>
/// <param name="Sender">The asker's own entry (its key nearest the receiver's), when it registers one.</param>
internal readonly record struct LeafSetRequest(Key256 ValidateKey, RouteEntry? Sender) : IWireMessage<LeafSetRequest>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.LeafSetRequest;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(2);
        WireWriter.WriteKey(ref writer, ValidateKey);
        RouteEntry.WriteOptional(ref writer, Sender);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out LeafSetRequest value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(2)) != DecodeStatus.Ok
            || (s = reader.ReadKey(out Key256 key)) != DecodeStatus.Ok
            || (s = RouteEntry.TryReadOptional(ref reader, out RouteEntry? sender)) != DecodeStatus.Ok)
        {
            return s;
        }

        value = new LeafSetRequest(key, sender);
        return DecodeStatus.Ok;
    }
}

/// <summary>Flags of a <see cref="LeafSetReply"/>.</summary>
[Flags]
internal enum LeafSetReplyFlags : byte
{
    /// <summary>The key is registered here; both sides follow.</summary>
    None = 0,

    /// <summary>The validate key is not registered here (the sides are empty).</summary>
    NotMine = 0x01,

    /// <summary>The key is still joining: its leaf set is not yet consistent.</summary>
    Joining = 0x02,
}

/// <summary>
/// Answer to a <see cref="LeafSetRequest"/>: both sides of the key's leaf set, nearest first.
/// Body: [flags, key, left (0..16), right (0..16)].
/// </summary>
/// <param name="Flags">N / joining flags.</param>
/// <param name="Key">The key whose leaf set this is.</param>
/// <param name="Left">Counter-clockwise neighbours (smaller keys), nearest first.</param>
/// <param name="Right">Clockwise neighbours (larger keys), nearest first.</param>
internal readonly record struct LeafSetReply(
    LeafSetReplyFlags Flags,
    Key256 Key,
    WireList<RouteEntry> Left,
    WireList<RouteEntry> Right) : IWireMessage<LeafSetReply>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.LeafSetReply;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(4);
        writer.Write((byte)Flags);
        WireWriter.WriteKey(ref writer, Key);
        Left.Write(ref writer);
        Right.Write(ref writer);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out LeafSetReply value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(4)) != DecodeStatus.Ok
            || (s = reader.ReadByte(out byte flags)) != DecodeStatus.Ok
            || (s = reader.ReadKey(out Key256 key)) != DecodeStatus.Ok
            || (s = WireList<RouteEntry>.TryRead(ref reader, 0, WireLimits.MaxLeafSetSide, out WireList<RouteEntry> left)) != DecodeStatus.Ok
            || (s = WireList<RouteEntry>.TryRead(ref reader, 0, WireLimits.MaxLeafSetSide, out WireList<RouteEntry> right)) != DecodeStatus.Ok)
        {
            return s;
        }

        value = new LeafSetReply((LeafSetReplyFlags)flags, key, left, right);
        return DecodeStatus.Ok;
    }
}
