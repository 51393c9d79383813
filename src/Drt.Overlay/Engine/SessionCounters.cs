namespace Drt.Overlay.Engine;

/// <summary>
/// What the session layer (Membership and Confidential modes) saw and did. Written on the engine's thread only; other
/// threads read slightly stale values, as with <see cref="EngineCounters"/>.
/// </summary>
internal sealed class SessionCounters
{
    /// <summary>Sessions in the table now (established or with a handshake in flight).</summary>
    public int Active { get; set; }

    /// <summary>Hellos this instance sent first (retransmissions not counted).</summary>
    public long HandshakesStarted { get; set; }

    /// <summary>Handshakes this instance started that completed (a valid reply arrived).</summary>
    public long HandshakesCompleted { get; set; }

    /// <summary>Hellos from others answered with a session.</summary>
    public long HandshakesAccepted { get; set; }

    /// <summary>Hellos or replies refused silently: credential or proof invalid, or the key agreement failed.</summary>
    public long HandshakesRefused { get; set; }

    /// <summary>Hellos dropped unread because the handshake token bucket was empty.</summary>
    public long HandshakesRateLimited { get; set; }

    /// <summary>Handshakes this instance started that got no valid reply after every attempt.</summary>
    public long HandshakesFailed { get; set; }

    /// <summary>Hellos ignored because ours to the same peer crossed them and wins the tie-break.</summary>
    public long HandshakesCrossed { get; set; }

    /// <summary>Handshakes neither started nor answered because this instance's own credential has expired.</summary>
    public long HandshakesWhileExpired { get; set; }

    /// <summary>Datagrams dropped unopened: no trailer, or no session with their source (non-members land here).</summary>
    public long Unauthenticated { get; set; }

    /// <summary>Datagrams whose tag did not verify (tampered, forged, wrong key or direction).</summary>
    public long AuthenticationFailed { get; set; }

    /// <summary>Datagrams refused as replays: counter seen, or older than the replay window.</summary>
    public long Replayed { get; set; }

    /// <summary>
    /// Datagrams of a key epoch neither current, previous nor next (a datagram delayed across two rotations of its
    /// sender, or junk); dropped before any cryptography.
    /// </summary>
    public long UnknownEpoch { get; set; }

    /// <summary>Datagrams sealed.</summary>
    public long Sealed { get; set; }

    /// <summary>Datagrams opened.</summary>
    public long Opened { get; set; }

    /// <summary>Datagrams held while their peer's handshake was in flight.</summary>
    public long Held { get; set; }

    /// <summary>Outgoing datagrams dropped: hold queue full, handshake table full, handshake failed, or no session possible.</summary>
    public long SendsDropped { get; set; }

    /// <summary>Sessions evicted to make room (least recently used).</summary>
    public long Evicted { get; set; }

    /// <summary>Sessions torn down because the peer's credential expired.</summary>
    public long Expired { get; set; }

    /// <summary>Send-key rotations (after <see cref="SessionOptions.RekeyAfterDatagrams"/> or <see cref="SessionOptions.RekeyAfter"/>).</summary>
    public long Rotations { get; set; }

    /// <summary>Hellos from addresses not yet proven answered with a cookie only (no state kept, no cryptography but a MAC).</summary>
    public long CookiesSent { get; set; }

    /// <summary>Cookies we were given for our own hellos (each hello then sent again with it).</summary>
    public long CookiesReceived { get; set; }
}
