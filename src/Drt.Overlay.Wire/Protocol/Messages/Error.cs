using MessagePack;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>Why a request was refused.</summary>
internal enum ErrorCode : byte
{
    /// <summary>The node is overloaded; retry elsewhere or after <see cref="Error.RetryAfterMilliseconds"/>.</summary>
    Busy = 1,

    /// <summary>The sender exceeded its rate limit.</summary>
    RateLimited = 2,

    /// <summary>The request asked for more than the node will send to an address that has not proved itself.</summary>
    TooLarge = 3,

    /// <summary>The node does not serve this request (e.g. it is resolve-only).</summary>
    Unsupported = 4,

    /// <summary>The sender is not a member of this network (membership modes).</summary>
    NotAuthorized = 5,
}

/// <summary>
/// A refusal, in answer to any request (the header carries the request's message id). Body: [code, retry after ms].
/// Never sent in answer to an error or to a datagram that failed to decode (no error storms, no oracle for fuzzers).
/// </summary>
/// <param name="Code">Why.</param>
/// <param name="RetryAfterMilliseconds">When the sender may try again; 0 = no advice.</param>
internal readonly record struct Error(ErrorCode Code, ushort RetryAfterMilliseconds) : IWireMessage<Error>
{
    /// <inheritdoc/>
    public static MessageType Type => MessageType.Error;

    /// <inheritdoc/>
    public void Write(ref MessagePackWriter writer)
    {
        writer.WriteArrayHeader(2);
        writer.Write((byte)Code);
        writer.Write(RetryAfterMilliseconds);
    }

    /// <inheritdoc/>
    public static DecodeStatus TryRead(ref WireReader reader, out Error value)
    {
        value = default;
        DecodeStatus s;
        if ((s = reader.ReadFields(2)) != DecodeStatus.Ok
            || (s = reader.ReadByte(out byte code)) != DecodeStatus.Ok
            || (s = reader.ReadUInt16(out ushort retryAfter)) != DecodeStatus.Ok)
        {
            return s;
        }

        if (code is 0 or > (byte)ErrorCode.NotAuthorized)
        {
            return DecodeStatus.Malformed;
        }

        value = new Error((ErrorCode)code, retryAfter);
        return DecodeStatus.Ok;
    }
}
