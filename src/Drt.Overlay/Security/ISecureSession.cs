namespace Drt.Overlay.Security;

/// <summary>One side of a key agreement in progress (an ephemeral key pair); single use.</summary>
public interface ISessionHandshake : IDisposable
{
    /// <summary>The ephemeral public key to send to the peer.</summary>
    ReadOnlySpan<byte> LocalEphemeralKey { get; }

    /// <summary>
    /// Agrees the session with the peer's ephemeral key and identity public key; <paramref name="isInitiator"/> is true
    /// on the side that sent first. Returns null when the peer's key is unusable (malformed, low order). Disposes the
    /// ephemeral private key either way.
    /// </summary>
    /// <exception cref="DrtException">InvalidOperation: the handshake was already completed or disposed.</exception>
    ISecureSession? Complete(ReadOnlySpan<byte> remoteEphemeralKey, ReadOnlySpan<byte> remotePublicKey, bool isInitiator);
}

/// <summary>
/// Datagram protection between two peers: each datagram gets a trailer (key epoch, 64-bit counter, tag) that
/// authenticates header and body, and in Confidential mode the body is encrypted. Works in place on the datagram
/// buffer and allocates nothing per datagram.
/// </summary>
/// <remarks>
/// The header stays in clear (the receiver routes and rejects on it before any crypto) but is authenticated. A
/// datagram is accepted once: a counter already seen, or more than the replay window behind the newest, is refused.
/// </remarks>
public interface ISecureSession : IDisposable
{
    /// <summary>An id both sides derive the same way (for logs and for matching a session to a peer).</summary>
    ulong SessionId { get; }

    /// <summary>The epoch of the key this side sends with; <see cref="RotateSendKey"/> advances it.</summary>
    uint SendEpoch { get; }

    /// <summary>Bytes <see cref="TrySeal"/> adds after the body.</summary>
    int Overhead { get; }

    /// <summary>
    /// Protects <paramref name="datagram"/>[..headerLength + bodyLength] in place and appends the trailer;
    /// <paramref name="datagram"/> must have <see cref="Overhead"/> spare bytes after the body. False only when this
    /// direction has used up its counters (rotate or renegotiate).
    /// </summary>
    bool TrySeal(Span<byte> datagram, int headerLength, int bodyLength, out int sealedLength);

    /// <summary>
    /// Checks (and in Confidential mode decrypts, in place) a received datagram whose first
    /// <paramref name="headerLength"/> bytes are the header; on <see cref="SecureSessionStatus.Ok"/>,
    /// <paramref name="bodyLength"/> is the plain body's length after the header. Never throws on hostile bytes.
    /// </summary>
    SecureSessionStatus TryOpen(Span<byte> datagram, int headerLength, out int bodyLength);

    /// <summary>Moves this side's sending to the next key epoch (the peer follows when it sees the new epoch).</summary>
    void RotateSendKey();
}

/// <summary>What <see cref="ISecureSession.TryOpen"/> found.</summary>
public enum SecureSessionStatus
{
    /// <summary>Authentic and new: the body may be used.</summary>
    Ok = 0,

    /// <summary>Shorter than header plus trailer.</summary>
    Truncated = 1,

    /// <summary>The tag does not match: tampered, forged, wrong key or wrong direction.</summary>
    AuthenticationFailed = 2,

    /// <summary>This counter was already accepted.</summary>
    Replayed = 3,

    /// <summary>The counter is older than the replay window keeps track of.</summary>
    TooOld = 4,

    /// <summary>The key epoch is neither the current, the previous nor the next one.</summary>
    UnknownEpoch = 5,
}
