using MessagePack;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>What a search looks for (DRT_SEARCH_INFO). On the wire as a byte; never renumber.</summary>
internal enum LookupKind : byte
{
    /// <summary>The key equal to the target (min = max = target).</summary>
    Exact = 0,

    /// <summary>The key in [min, max] nearest to the target; with N results, the N nearest in order.</summary>
    Nearest = 1,

    /// <summary>The first key found anywhere in [min, max] (one result).</summary>
    AnyInRange = 2,
}

/// <summary>Flags of a <see cref="Lookup"/>.</summary>
[Flags]
internal enum LookupFlags : byte
{
    /// <summary>No flags.</summary>
    None = 0,

    /// <summary>DRT's A: return referrals even when they are not closer than the validate key (the searcher knows few nodes).</summary>
    AcceptNotCloser = 0x01,

    /// <summary>The lookup publishes the sender's key (DRT reason REGISTRATION): hops learn of the sender entry.</summary>
    Registration = 0x02,

    /// <summary>The lookup is a split-detection test (DRT reason SPLIT_DETECTION).</summary>
    SplitDetection = 0x04,
}

/// <summary>
/// One hop of an iterative search (DRT's LOOKUP). Body: [flags, kind, target, min, max, want, validate key,
/// sender entry or nil, path (0..22 endpoints)]. An exact lookup writes nil for min and max (both equal the target),
/// which keeps the commonest search request small.
/// </summary>
/// <param name="Flags">Lookup flags.</param>
/// <param name="Kind">Exact, nearest or any-in-range.</param>
/// <param name="Target">The key searched for.</param>
/// <param name="Min">Lower end of the range (inclusive, clockwise to <paramref name="Max"/>).</param>
/// <param name="Max">Upper end of the range (inclusive).</param>
/// <param name="Want">How many results the searcher wants (1..<see cref="WireLimits.MaxReplyEntries"/>).</param>
/// <param name="ValidateKey">The key the searcher believes the receiver registers; the reply's N flag says it does not.</param>
/// <param name="Sender">The searcher's own entry when it registers a key (hops learn of it).</param>
/// <param name="Path">The endpoints already visited, so the hop does not refer back to them (DRT's FlaggedPath).</param>
internal readonly record struct Lookup(
    LookupFlags Flags,
    LookupKind Kind,
    Key256 Target,
    Key256 Min,
    Key256 Max,
    byte Want,
    Key256 ValidateKey,
    RouteEntry? Sender,
    WireList<WireEndpoint> Path) : IWireMessage<Lookup>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.Lookup;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(9);
        writer.Write((byte)Flags);
        writer.Write((byte)Kind);
        WireWriter.WriteKey(ref writer, Target);
        if (Kind == LookupKind.Exact)
        {
            if (Min != Target || Max != Target)
            {
                ThrowHelper.ThrowInvalidOperation("An exact lookup has min = max = target.");
            }

            writer.WriteNil();
            writer.WriteNil();
        }
        else
        {
            WireWriter.WriteKey(ref writer, Min);
            WireWriter.WriteKey(ref writer, Max);
        }

        writer.Write(Want);
        WireWriter.WriteKey(ref writer, ValidateKey);
        RouteEntry.WriteOptional(ref writer, Sender);
        Path.Write(ref writer);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out Lookup value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(9)) != DecodeStatus.Ok
            || (s = reader.ReadByte(out byte flags)) != DecodeStatus.Ok
            || (s = reader.ReadByte(out byte kind)) != DecodeStatus.Ok
            || (s = reader.ReadKey(out Key256 target)) != DecodeStatus.Ok
            || (s = ReadBound(ref reader, kind, target, out Key256 min)) != DecodeStatus.Ok
            || (s = ReadBound(ref reader, kind, target, out Key256 max)) != DecodeStatus.Ok
            || (s = reader.ReadByte(out byte want)) != DecodeStatus.Ok
            || (s = reader.ReadKey(out Key256 validate)) != DecodeStatus.Ok
            || (s = RouteEntry.TryReadOptional(ref reader, out RouteEntry? sender)) != DecodeStatus.Ok
            || (s = WireList<WireEndpoint>.TryRead(ref reader, 0, WireLimits.MaxPath, out WireList<WireEndpoint> path)) != DecodeStatus.Ok)
        {
            return s;
        }

        // The target must lie in [min, max]; a kind we do not know, or a want of 0, is nonsense.
        if (kind > (byte)LookupKind.AnyInRange || want == 0 || want > WireLimits.MaxReplyEntries || !Key256.IsBetween(target, min, max))
        {
            return DecodeStatus.Malformed;
        }

        value = new Lookup((LookupFlags)flags, (LookupKind)kind, target, min, max, want, validate, sender, path);
        return DecodeStatus.Ok;
    }

    // Exact lookups carry nil bounds (= target); the others carry keys. Anything else is not canonical.
    private static DecodeStatus ReadBound(ref WireReader reader, byte kind, Key256 target, out Key256 bound)
    {
        if (kind == (byte)LookupKind.Exact)
        {
            bound = target;
            return reader.ReadNil();
        }

        return reader.ReadKey(out bound);
    }
}

/// <summary>Flags of a <see cref="LookupReply"/> (DRT's AUTHORITY_BUFFER flags, plus C).</summary>
[Flags]
internal enum LookupReplyFlags : byte
{
    /// <summary>No flags: the entries are referrals closer to the target.</summary>
    None = 0,

    /// <summary>DRT's L: the target is unknown here but would fall in the sender's leaf set.</summary>
    WouldBeInLeafSet = 0x01,

    /// <summary>DRT's B: the sender is too busy to answer; try another hop.</summary>
    Busy = 0x02,

    /// <summary>DRT's N: the validate key is not registered here.</summary>
    NotMine = 0x04,

    /// <summary>The sender's leaf set covers the target: the entries are the nearest keys it knows, not referrals.</summary>
    Covering = 0x08,
}

/// <summary>
/// Answer to a <see cref="Lookup"/>: referrals closer to the target, or, from a node whose leaf set covers the
/// target, the nearest keys it knows. Body: [flags, entries (0..20)].
/// </summary>
/// <param name="Flags">L/B/N/C flags.</param>
/// <param name="Entries">Referrals or nearest keys, nearest first.</param>
internal readonly record struct LookupReply(LookupReplyFlags Flags, WireList<RouteEntry> Entries) : IWireMessage<LookupReply>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.LookupReply;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(2);
        writer.Write((byte)Flags);
        Entries.Write(ref writer);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out LookupReply value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(2)) != DecodeStatus.Ok
            || (s = reader.ReadByte(out byte flags)) != DecodeStatus.Ok
            || (s = WireList<RouteEntry>.TryRead(ref reader, 0, WireLimits.MaxReplyEntries, out WireList<RouteEntry> entries)) != DecodeStatus.Ok)
        {
            return s;
        }

        value = new LookupReply((LookupReplyFlags)flags, entries);
        return DecodeStatus.Ok;
    }
}
