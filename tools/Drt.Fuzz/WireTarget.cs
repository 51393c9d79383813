using System.Buffers.Binary;
using System.Net;
using Drt.Overlay.Wire.Fragmentation;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Fuzz;

/// <summary>
/// The fuzz target: one input through every decoder of the wire layer. Decoders answer hostile bytes with a
/// <see cref="DecodeStatus"/> and never throw (docs/security.md, Hardening), so any exception out of here is a bug;
/// so is a decoded message that does not encode and decode again.
/// </summary>
/// <remarks>
/// The input is used three ways, so that the fuzzer reaches the bodies without having to find the header first:
/// as a datagram (header, then the body of the type it names); as a bare body, tried against every message type; and
/// as a run of fragment bodies, fed to a fresh <see cref="Reassembler"/> whose completed wholes go through the
/// datagram path again. The header check takes its expected context from the input's own header bytes, which
/// exercises the rest of the header checks instead of stopping at the network id.
/// </remarks>
internal static class WireTarget
{
    /// <summary>One fixed source for the reassembler (a fresh one per input, so a crash reproduces from one file).</summary>
    private static readonly System.Net.SocketAddress s_source = new IPEndPoint(IPAddress.Loopback, 3540).Serialize();

    /// <summary>Runs one input; throws <see cref="InvalidOperationException"/> on a failed check (a bug).</summary>
    public static void Run(ReadOnlySpan<byte> input)
    {
        // The decoders take memory (decoded byte fields are slices of the datagram): one copy per input.
        ReadOnlyMemory<byte> data = input.ToArray();
        using var buffer = new PooledBufferWriter();
        Datagram(data, buffer);
        EveryBody(data, buffer);
        Fragments(data, buffer);
    }

    /// <summary>Header, then the body of the type the header names, as the engine's receive path reads it.</summary>
    private static void Datagram(ReadOnlyMemory<byte> data, PooledBufferWriter buffer)
    {
        // Once against a context that matches whatever the input claims, once against the default (mostly refused).
        WireContext claimed = data.Length >= WireHeader.Size
            ? new WireContext(BinaryPrimitives.ReadUInt32BigEndian(data.Span[8..]), data.Span[3], data.Span[4], data.Span[WireHeader.SecurityModeOffset])
            : default;
        _ = WireHeader.TryRead(data.Span, default, out _);
        if (WireHeader.TryRead(data.Span, claimed, out WireHeader header) != DecodeStatus.Ok)
        {
            return;
        }

        // Every decoder with the header read: only the type it names decodes, the others refuse at once.
        EveryType(data, header, buffer);
    }

    /// <summary>The input as the body of each message type in turn (a header of that type in front, unpadded).</summary>
    private static void EveryBody(ReadOnlyMemory<byte> body, PooledBufferWriter buffer)
    {
        byte[] datagram = new byte[WireHeader.Size + body.Length];
        body.CopyTo(datagram.AsMemory(WireHeader.Size));
        EveryType(datagram, null, buffer);
    }

    /// <summary>Each message type's decoder, with <paramref name="header"/> or (when null) a header of that type.</summary>
    private static void EveryType(ReadOnlyMemory<byte> datagram, WireHeader? header, PooledBufferWriter buffer)
    {
        Decode<Ping>(datagram, header, buffer);
        Decode<Pong>(datagram, header, buffer);
        Decode<Solicit>(datagram, header, buffer);
        Decode<Advertise>(datagram, header, buffer);
        Decode<Request>(datagram, header, buffer);
        Decode<Ack>(datagram, header, buffer);
        Decode<Lookup>(datagram, header, buffer);
        Decode<LookupReply>(datagram, header, buffer);
        Decode<Inquire>(datagram, header, buffer);
        Decode<Authority>(datagram, header, buffer);
        Decode<Route>(datagram, header, buffer);
        Decode<RouteAck>(datagram, header, buffer);
        Decode<Flood>(datagram, header, buffer);
        Decode<LeafSetRequest>(datagram, header, buffer);
        Decode<LeafSetReply>(datagram, header, buffer);
        Decode<Error>(datagram, header, buffer);
        Decode<Fragment>(datagram, header, buffer);
        Decode<Hello>(datagram, header, buffer);
        Decode<HelloReply>(datagram, header, buffer);
        Decode<HelloCookie>(datagram, header, buffer);
    }

    /// <summary>
    /// The input as a message id (8 bytes) then fragment bodies back to back, into a fresh reassembler; every completed
    /// whole is a datagram again. Time moves on by a millisecond per fragment and expiry runs at the end.
    /// </summary>
    private static void Fragments(ReadOnlyMemory<byte> data, PooledBufferWriter buffer)
    {
        if (data.Length < sizeof(ulong))
        {
            return;
        }

        ulong messageId = BinaryPrimitives.ReadUInt64BigEndian(data.Span);
        using var reassembler = new Reassembler(new ReassemblyLimits { MaxReassemblies = 4, MaxPerSource = 2 });
        var reader = new WireReader(data[sizeof(ulong)..]);
        long now = 0;
        while (!reader.End && Fragment.TryRead(ref reader, out Fragment fragment) == DecodeStatus.Ok)
        {
            now += 1_000;
            if (reassembler.Accept(s_source, messageId, fragment, now, out ReadOnlyMemory<byte> whole) == ReassemblyResult.Completed)
            {
                // The whole is valid until the next call into the reassembler: decoded (and copied) before that.
                Datagram(whole.ToArray(), buffer);
            }

            // Alternate message ids now and then, so that several reassemblies are in progress and get evicted.
            messageId += (ulong)(fragment.Offset & 1);
        }

        _ = reassembler.Expire(now + (60L * 1_000_000));
        if (reassembler.Active != 0 || reassembler.BufferedBytes != 0)
        {
            throw new InvalidOperationException($"Reassembler: {reassembler.Active} reassemblies ({reassembler.BufferedBytes} bytes) survived their expiry.");
        }
    }

    /// <summary>Decodes; a decoded message must encode and decode again (lists are re-parsed on the way out).</summary>
    private static void Decode<T>(ReadOnlyMemory<byte> datagram, WireHeader? read, PooledBufferWriter buffer)
        where T : struct, IWireMessage<T>
    {
        WireHeader header = read ?? WireHeader.Create(default, T.Type, 0);
        if (WireCodec.TryDecode(datagram, header, out T message) != DecodeStatus.Ok)
        {
            return;
        }

        WireHeader plain = header with { Flags = header.Flags & ~HeaderFlags.Padded };
        byte[] encoded = WireCodec.Encode(plain, message, buffer).ToArray();
        DecodeStatus again = WireCodec.TryDecode(encoded, plain, out T _);
        if (again != DecodeStatus.Ok)
        {
            throw new InvalidOperationException($"A decoded {T.Type} encoded to bytes that decode as {again}.");
        }
    }
}
