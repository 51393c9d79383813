using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using MessagePack;
using MessagePack.Resolvers;

namespace Drt.Node.Control;

/// <summary>What reading one frame found.</summary>
internal enum FrameStatus
{
    /// <summary>A whole frame, decoded.</summary>
    Ok,

    /// <summary>The peer closed the connection between frames.</summary>
    Closed,

    /// <summary>A length beyond <see cref="ControlFraming.MaxFrame"/>, a frame cut short, or bytes that are not the message.</summary>
    Bad,
}

/// <summary>
/// The control socket's frames: a 4-byte big-endian length, then that many bytes of MessagePack (a map keyed by property
/// name). Both sides read through System.IO.Pipelines; anything malformed is reported as <see cref="FrameStatus.Bad"/>,
/// never thrown.
/// </summary>
internal static class ControlFraming
{
    /// <summary>The largest frame either side accepts: ample for 20 results of 5,120 bytes each.</summary>
    public const int MaxFrame = 1 << 20;

    /// <summary>Internal DTOs, and the untrusted-data limits (depth, hash collision resistance) for what arrives.</summary>
    private static readonly MessagePackSerializerOptions s_options = MessagePackSerializerOptions.Standard
        .WithResolver(StandardResolverAllowPrivate.Instance)
        .WithSecurity(MessagePackSecurity.UntrustedData);

    /// <summary>Writes one frame holding <paramref name="message"/> and flushes it.</summary>
    public static async ValueTask WriteAsync<T>(PipeWriter writer, T message, CancellationToken cancellationToken)
    {
        byte[] body = MessagePackSerializer.Serialize(message, s_options, cancellationToken);
        Span<byte> length = writer.GetSpan(4);
        BinaryPrimitives.WriteInt32BigEndian(length, body.Length);
        writer.Advance(4);
        await writer.WriteAsync(body, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads the next frame and decodes it as <typeparamref name="T"/>.</summary>
    public static async ValueTask<(FrameStatus Status, T? Message, string? Problem)> ReadAsync<T>(PipeReader reader, CancellationToken cancellationToken)
        where T : class
    {
        byte[] prefix = new byte[4];
        while (true)
        {
            ReadResult read = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = read.Buffer;
            if (buffer.Length >= 4)
            {
                buffer.Slice(0, 4).CopyTo(prefix);
                int length = BinaryPrimitives.ReadInt32BigEndian(prefix);
                if (length is <= 0 or > MaxFrame)
                {
                    reader.AdvanceTo(buffer.Start, buffer.End);
                    return (FrameStatus.Bad, null, $"a frame of {length} bytes; frames are 1..{MaxFrame} bytes after a 4-byte big-endian length");
                }

                if (buffer.Length >= 4 + length)
                {
                    ReadOnlySequence<byte> body = buffer.Slice(4, length);
                    try
                    {
                        T? message = MessagePackSerializer.Deserialize<T>(body, s_options, cancellationToken);
                        return message is null ? (FrameStatus.Bad, null, "an empty message") : (FrameStatus.Ok, message, null);
                    }
                    catch (MessagePackSerializationException error)
                    {
                        return (FrameStatus.Bad, null, $"not a {typeof(T).Name}: {error.InnerException?.Message ?? error.Message}");
                    }
                    finally
                    {
                        reader.AdvanceTo(body.End);
                    }
                }
            }

            if (read.IsCompleted || read.IsCanceled)
            {
                reader.AdvanceTo(buffer.End);
                return buffer.Length == 0 ? (FrameStatus.Closed, null, null) : (FrameStatus.Bad, null, $"the connection closed inside a frame ({buffer.Length} bytes)");
            }

            reader.AdvanceTo(buffer.Start, buffer.End); // need more
        }
    }
}
