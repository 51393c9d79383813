namespace Drt.Overlay.Wire.Protocol;

/// <summary>
/// What a decoder made of its input. Hostile or broken input is a status, never an exception: the receive loop
/// counts the status and drops the datagram.
/// </summary>
internal enum DecodeStatus : byte
{
    /// <summary>The input decoded into a valid value.</summary>
    Ok = 0,

    /// <summary>The input ended before the value did.</summary>
    Truncated,

    /// <summary>A field had the wrong MessagePack type, an impossible value, or bytes were left over.</summary>
    Malformed,

    /// <summary>A count or length exceeded one of our caps (<see cref="WireLimits"/>).</summary>
    TooLarge,

    /// <summary>The datagram does not start with our magic bytes: not ours at all.</summary>
    BadMagic,

    /// <summary>The datagram speaks a protocol version this node does not.</summary>
    UnsupportedVersion,

    /// <summary>The datagram belongs to another overlay network (another network id).</summary>
    WrongNetwork,

    /// <summary>The sender runs an application major version other than ours.</summary>
    IncompatibleApplication,

    /// <summary>The message type is not one this node knows.</summary>
    UnknownType,

    /// <summary>The header was valid but the body belongs to a different message type than the one asked for.</summary>
    WrongType,

    /// <summary>The sender runs another security mode than ours (the header's mode byte): the network is misconfigured.</summary>
    WrongSecurityMode,
}
