using MessagePack;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>
/// Recursive key-based routing (Pastry's route): an application payload forwarded hop by hop to the root of
/// <see cref="Target"/>. Each hop answers with a <see cref="RouteAck"/> (the header's message id is per hop);
/// <see cref="RouteId"/> stays the same end to end so the root suppresses duplicates from retransmissions.
/// Body: [route id, target, ttl, hops, origin, channel, payload (bin ≤1,024)].
/// </summary>
/// <param name="RouteId">The originator's random id for this routed message.</param>
/// <param name="Target">The key whose root receives the payload.</param>
/// <param name="Ttl">Hops left; a hop that receives 0 does not forward (loop guard).</param>
/// <param name="Hops">Hops taken so far.</param>
/// <param name="Origin">The originator's endpoint, for the application's answer.</param>
/// <param name="Channel">The application's channel number (which handler receives the payload).</param>
/// <param name="Payload">The application's bytes.</param>
internal readonly record struct Route(
    ulong RouteId,
    Key256 Target,
    byte Ttl,
    byte Hops,
    WireEndpoint Origin,
    ushort Channel,
    ReadOnlyMemory<byte> Payload) : IWireMessage<Route>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.Route;

    /// <summary>The TTL a new routed message starts with: well above log16 of any network we run.</summary>
    public const byte DefaultTtl = 32;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(7);
        writer.Write(RouteId);
        WireWriter.WriteKey(ref writer, Target);
        writer.Write(Ttl);
        writer.Write(Hops);
        Origin.Write(ref writer);
        writer.Write(Channel);
        writer.Write(Payload.Span);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out Route value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(7)) != DecodeStatus.Ok
            || (s = reader.ReadUInt64(ulong.MaxValue, out ulong routeId)) != DecodeStatus.Ok
            || (s = reader.ReadKey(out Key256 target)) != DecodeStatus.Ok
            || (s = reader.ReadByte(out byte ttl)) != DecodeStatus.Ok
            || (s = reader.ReadByte(out byte hops)) != DecodeStatus.Ok
            || (s = WireEndpoint.TryRead(ref reader, out WireEndpoint origin)) != DecodeStatus.Ok
            || (s = reader.ReadUInt16(out ushort channel)) != DecodeStatus.Ok
            || (s = reader.ReadBinary(0, WireLimits.MaxRoutePayload, out ReadOnlyMemory<byte> payload)) != DecodeStatus.Ok)
        {
            return s;
        }

        value = new Route(routeId, target, ttl, hops, origin, channel, payload);
        return DecodeStatus.Ok;
    }
}

/// <summary>What a hop did with a <see cref="Route"/>.</summary>
internal enum RouteAckStatus : byte
{
    /// <summary>Taken: the hop forwards it (or has delivered it).</summary>
    Accepted = 0,

    /// <summary>The hop is the root and delivered it to the application.</summary>
    Delivered = 1,

    /// <summary>Too busy; the sender retries over another next hop.</summary>
    Busy = 2,

    /// <summary>The TTL ran out here.</summary>
    TtlExpired = 3,

    /// <summary>A duplicate of a message already delivered here.</summary>
    Duplicate = 4,
}

/// <summary>Per-hop acknowledgement of a <see cref="Route"/>. Body: [status].</summary>
/// <param name="Status">What the hop did.</param>
internal readonly record struct RouteAck(RouteAckStatus Status) : IWireMessage<RouteAck>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.RouteAck;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(1);
        writer.Write((byte)Status);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out RouteAck value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(1)) != DecodeStatus.Ok || (s = reader.ReadByte(out byte status)) != DecodeStatus.Ok)
        {
            return s;
        }

        if (status > (byte)RouteAckStatus.Duplicate)
        {
            return DecodeStatus.Malformed;
        }

        value = new RouteAck((RouteAckStatus)status);
        return DecodeStatus.Ok;
    }
}
