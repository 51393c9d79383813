using MessagePack;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>
/// A liveness probe. Body: [timestamp]. The timestamp is the sender's own clock in microseconds, echoed by the
/// <see cref="Pong"/>, so the sender measures RTT without keeping per-probe state.
/// </summary>
/// <param name="Timestamp">The sender's clock when it sent the probe, in microseconds.</param>
internal readonly record struct Ping(ulong Timestamp) : IWireMessage<Ping>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.Ping;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(1);
        writer.Write(Timestamp);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out Ping value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(1)) != DecodeStatus.Ok || (s = reader.ReadUInt64(ulong.MaxValue, out ulong timestamp)) != DecodeStatus.Ok)
        {
            return s;
        }

        value = new Ping(timestamp);
        return DecodeStatus.Ok;
    }
}

/// <summary>
/// Answer to a <see cref="Ping"/>. Body: [echoed timestamp, observed endpoint]. The observed endpoint tells the
/// prober how it is seen from outside (its address behind a NAT, or which of its addresses was used).
/// </summary>
/// <param name="EchoTimestamp">The probe's timestamp, unchanged.</param>
/// <param name="Observed">The source endpoint the probe arrived from.</param>
internal readonly record struct Pong(ulong EchoTimestamp, WireEndpoint Observed) : IWireMessage<Pong>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.Pong;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(2);
        writer.Write(EchoTimestamp);
        Observed.Write(ref writer);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out Pong value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(2)) != DecodeStatus.Ok
            || (s = reader.ReadUInt64(ulong.MaxValue, out ulong timestamp)) != DecodeStatus.Ok
            || (s = WireEndpoint.TryRead(ref reader, out WireEndpoint observed)) != DecodeStatus.Ok)
        {
            return s;
        }

        value = new Pong(timestamp, observed);
        return DecodeStatus.Ok;
    }
}
