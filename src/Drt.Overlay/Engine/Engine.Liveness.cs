using System.Net;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Engine;

internal sealed partial class Engine
{
    private Action<IPEndPoint, bool, int>? _probeObserver;

    /// <summary>
    /// Probes the peer at <paramref name="endpoint"/> with a ping (engine thread); <paramref name="observer"/> learns
    /// whether it answered and the RTT in microseconds.
    /// </summary>
    public void Probe(IPEndPoint endpoint, Action<IPEndPoint, bool, int>? observer = null, long now = 0)
    {
        _probeObserver = observer ?? _probeObserver;
        if (TryPeerOf(WireEndpoint.FromIPEndPoint(endpoint), out int peerId) && peerId != SelfPeerId)
        {
            SendProbe(peerId, attempt: 0, NewMessageId(), now);
        }
    }

    private void SendProbe(int peerId, int attempt, ulong messageId, long now)
    {
        // The timestamp is our own clock; the pong echoes it, so the RTT needs no per-probe state beyond the
        // pending entry that limits retransmissions.
        var ping = new Ping((ulong)now);
        if (!SendRequest(ping, peerId, RequestKind.Probe, owner: 0, attempt, messageId, now, maintenance: true, padTo: PongMaxSize))
        {
            _probeObserver?.Invoke(EndpointOf(peerId).ToIPEndPoint(), false, 0);
        }
    }

    private void OnPing(ReadOnlyMemory<byte> datagram, in WireHeader header, System.Net.SocketAddress source)
    {
        if (!TryDecode(datagram, header, out Ping ping) || !WireEndpoint.TryFromSocketAddress(source, out WireEndpoint observed))
        {
            return;
        }

        // Stateless: a ping from anyone gets a pong no larger than itself (probes are padded; no state).
        Reply(new Pong(ping.Timestamp, observed), header, datagram.Length, source);
    }

    private void OnPong(ReadOnlyMemory<byte> datagram, in WireHeader header, System.Net.SocketAddress source, long now)
    {
        if (!TryDecode(datagram, header, out Pong pong) || !TryMatch(header, source, now, out PendingRequest request))
        {
            return;
        }

        // The echoed timestamp is ours, so the RTT is exact even for a retransmitted probe.
        int rtt = (int)Math.Clamp(now - (long)pong.EchoTimestamp, 0, int.MaxValue);
        _probeObserver?.Invoke(EndpointOf(request.PeerId).ToIPEndPoint(), true, rtt);
    }

    private void OnProbeTimeout(in PendingRequest request, long now)
    {
        if (request.Attempt + 1 < _options.MaxAttempts)
        {
            SendProbe(request.PeerId, request.Attempt + 1, request.MessageId, now);
            return;
        }

        _probeObserver?.Invoke(EndpointOf(request.PeerId).ToIPEndPoint(), false, 0);
    }
}
