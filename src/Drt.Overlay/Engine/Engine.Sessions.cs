using System.Net;
using Drt.Overlay.Security;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Engine;

/// <summary>
/// Sessions (Membership and Confidential modes): members prove membership at first contact (Hello / HelloReply:
/// credential, identity key, ephemeral X25519 key, proof signature), agree a per-peer <see cref="ISecureSession"/>, and
/// from then on every datagram between the pair carries the session's trailer. A datagram from a source without a
/// session, other than a hello, is dropped and counted, never answered: a non-member learns nothing, not even that the
/// address is alive.
/// </summary>
/// <remarks>
/// <para>
/// Two hooks, one each in the receive and the send path of <c>Engine.cs</c>: <see cref="TryOpenReceived"/> right after
/// the header checks (before any body is decoded) and <see cref="TrySealOutgoing"/> right after encoding (after
/// fragmentation, so each fragment is sealed on its own and the fragment chunk leaves room for the trailer). A
/// reassembled message is not opened again: every fragment of it was.
/// </para>
/// <para>
/// A datagram for a peer without a session starts a handshake and waits in a small bounded hold queue
/// (<see cref="SessionOptions.MaxHeld"/>, shared by all peers); it is sent, sealed, when the session is there. Holding
/// rather than dropping keeps first contacts from costing a retransmission timeout, which the RTT estimator and the
/// death checks would count against the peer. What does not fit is dropped and left to the request retransmissions.
/// </para>
/// <para>
/// Costs: a handshake is an X25519 agreement, an X25519 key pair, one Ed25519 sign and two verifies (credential and
/// proof), about 200–300 µs, so hellos are answered through a token bucket on the engine's clock
/// (<see cref="SessionOptions.HandshakeBurst"/>, <see cref="SessionOptions.HandshakesPerSecond"/>), after the cheap
/// checks (decode, crossing) and before any cryptography. Per datagram: one ChaCha20-Poly1305 seal or open, in place,
/// with no allocation and no signature.
/// </para>
/// </remarks>
internal sealed partial class Engine
{
    /// <summary>After a renegotiation starts, the next one waits at least this long (a silent peer is not flooded).</summary>
    private const long RenegotiationIntervalMicros = 5_000_000;

    /// <summary>Unanswered requests in a row after which a peer we hold a session with may have lost its side.</summary>
    private const int RenegotiateAfterTimeouts = 2;

    private const int ProofMessageLength = 128;

    /// <summary>A hello cookie is valid in the time slot it was made in and the next: 30 to 60 seconds.</summary>
    private const long CookieSlotMicros = 30_000_000;

    /// <summary>Cookies one handshake of ours follows (a slot may roll over between the cookie and the hello).</summary>
    private const int MaxCookieRounds = 2;

    private static readonly NSec.Cryptography.MacAlgorithm s_cookieMac = NSec.Cryptography.MacAlgorithm.Blake2b_128;

    private SessionOptions _sessionOptions = new();
    private bool _sealing;
    private int _sealOverhead;
    private long _inputNow;
    private DateTimeOffset _wallEpoch;
    private long _ownNotAfter = long.MaxValue;
    private bool _ownCredentialExpired;
    private long _sessionsDue = long.MaxValue;
    private SessionEntry[] _sessionTable = [];
    private int _sessionCount;
    private int _handshakesInFlight;
    private double _handshakeTokens;
    private long _tokensAt;
    private byte[] _openBuffer = [];
    private byte[] _sealBuffer = [];
    private HeldDatagram[] _held = [];
    private byte[]?[] _heldBytes = [];
    private int _heldCount;
    private PooledBufferWriter? _helloOut;
    private readonly byte[] _replyEphemeral = new byte[WireLimits.EphemeralKeyLength];
    private readonly byte[] _replyProof = new byte[WireLimits.SignatureLength];
    private NSec.Cryptography.Key? _cookieKey;
    private readonly byte[] _cookieOut = new byte[WireLimits.CookieLength];

    /// <summary>What the session layer saw and did (all zero in modes None and Resolve).</summary>
    public SessionCounters SessionCounters { get; } = new();

    /// <summary>
    /// Raised on the engine thread once, when this instance's own credential expires (engine time): from then on it
    /// neither starts nor answers handshakes, and its sessions are gone (its peers tear theirs down at the same moment).
    /// The facade reports its keys as unresolvable.
    /// </summary>
    public Action? CredentialExpired { get; set; }

    /// <summary>Whether datagrams are sealed (Membership, Confidential).</summary>
    public bool SealsDatagrams => _sealing;

    /// <summary>Whether a session with the peer at <paramref name="endpoint"/> is established (engine thread; tests, tools).</summary>
    public bool HasSessionWith(IPEndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var wire = WireEndpoint.FromIPEndPoint(endpoint);
        SocketAddress scratch = wire.IsIPv6 ? _scratchAddress : _scratchV4;
        wire.WriteTo(scratch);
        return _peers.TryGet(scratch, out int peerId) && _peers[peerId].Session > 0 && _sessionTable[_peers[peerId].Session - 1].Current is not null;
    }

    /// <summary>The largest unsealed datagram: the transport's cap less the session trailer in membership modes.</summary>
    private int MaxPayload => _transport.MaxDatagramSize - _sealOverhead;

    /// <summary>
    /// Sets the session layer up from the options (constructor, after the records have taken the provider; nothing to do
    /// in None and Resolve).
    /// </summary>
    private void InitSessions(EngineOptions options, TimeProvider time)
    {
        _wallEpoch = time.GetUtcNow();
        if (_security.Mode is not (DrtSecurityMode.Membership or DrtSecurityMode.Confidential))
        {
            return;
        }

        if (_security.SignatureLength != WireLimits.SignatureLength || _security.PublicKey.Length != WireLimits.PublicKeyLength
            || _security.LocalCredential.Length is < 1 or > WireLimits.MaxCredential)
        {
            throw new DrtException(DrtError.InvalidSettings, $"Mode {_security.Mode} needs a provider with 32-byte public keys, 64-byte signatures and a credential of 1..{WireLimits.MaxCredential} bytes.");
        }

        options.Sessions.Validate();
        _sealing = true;
        _sessionOptions = options.Sessions;
        _sealOverhead = SecureSession.TrailerLength;
        int buffer = Math.Max(_transport.MaxDatagramSize, WireLimits.DefaultMaxDatagram);
        _openBuffer = new byte[buffer];
        _sealBuffer = new byte[buffer];
        _held = new HeldDatagram[_sessionOptions.MaxHeld];
        _heldBytes = new byte[_sessionOptions.MaxHeld][];
        _sessionTable = new SessionEntry[Math.Min(_sessionOptions.MaxSessions, 16)];
        _sessionTable.AsSpan().Fill(SessionEntry.Free);
        _handshakeTokens = _sessionOptions.HandshakeBurst;
        _helloOut = new PooledBufferWriter(512);

        // The cookie secret: from the nonce source (seeded in the simulator), for this engine's life only; a cookie
        // names an address and a time slot, so it is useless anywhere else and soon stale.
        Span<byte> secret = stackalloc byte[32];
        FillNonce(secret);
        _cookieKey = NSec.Cryptography.Key.Import(s_cookieMac, secret, NSec.Cryptography.KeyBlobFormat.RawSymmetricKey);
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(secret);
        if (DrtCredential.TryParse(_security.LocalCredential.Span, out DrtCredential? own))
        {
            _ownNotAfter = MicrosOf(own.NotAfter);
            _sessionsDue = _ownNotAfter;
        }
    }

    /// <summary>Marks the peer of every session slot in use (a session, a handshake, held datagrams).</summary>
    private void MarkSessions(Span<bool> marks)
    {
        foreach (SessionEntry entry in _sessionTable)
        {
            Routing.PeerTable.Mark(marks, entry.PeerId);
        }
    }

    /// <summary>Disposes every session's keys (the engine stops).</summary>
    private void DisposeSessions()
    {
        for (int slot = 0; slot < _sessionTable.Length; slot++)
        {
            if (_sessionTable[slot].PeerId >= 0)
            {
                TearDown(slot);
            }
        }

        _helloOut?.Dispose();
        _cookieKey?.Dispose();
    }

    // ------------------------------------------------------------------ receive

    /// <summary>
    /// The receive-path step, after the header checks and before the body is decoded: serves hellos, and opens
    /// everything else in place into the engine's open buffer (<paramref name="datagram"/> then points there, header
    /// and plain body). False: the datagram was consumed (a hello) or dropped and counted.
    /// </summary>
    private bool TryOpenReceived(ref ReadOnlyMemory<byte> datagram, in WireHeader header, SocketAddress source, long now)
    {
        if (header.Type == MessageType.Hello)
        {
            OnHello(datagram, header, source, now);
            return false;
        }

        if (header.Type == MessageType.HelloReply)
        {
            OnHelloReply(datagram, header, source, now);
            return false;
        }

        if (header.Type == MessageType.HelloCookie)
        {
            OnHelloCookie(datagram, header, source, now);
            return false;
        }

        if ((header.Flags & HeaderFlags.Authenticated) == 0 || !_peers.TryGet(source, out int peerId) || _peers[peerId].Session == 0)
        {
            SessionCounters.Unauthenticated++;
            return false;
        }

        ref SessionEntry entry = ref _sessionTable[_peers[peerId].Session - 1];
        if (entry.Current is null || datagram.Length > _openBuffer.Length)
        {
            SessionCounters.Unauthenticated++;
            return false;
        }

        // Opened in a copy: the transport's buffer is read-only, and a failed open may have moved bytes around.
        Span<byte> open = _openBuffer.AsSpan(0, datagram.Length);
        datagram.Span.CopyTo(open);
        SecureSessionStatus status = entry.Current.TryOpen(open, WireHeader.Size, out int bodyLength);
        if (status != SecureSessionStatus.Ok && entry.Alternate is { } alternate)
        {
            datagram.Span.CopyTo(open);
            if (alternate.TryOpen(open, WireHeader.Size, out bodyLength) == SecureSessionStatus.Ok)
            {
                status = SecureSessionStatus.Ok;
                if (entry.AlternateIsNewer)
                {
                    // The initiator of a renegotiation now sends with the new session: it holds the ephemeral key, so
                    // the hello was not a replay. The new session replaces the old one for both directions.
                    entry.Current.Dispose();
                    entry.Current = alternate;
                    entry.Alternate = null;
                    entry.SealedInEpoch = 0;
                    entry.RotateAt = now + MicrosOf(_sessionOptions.RekeyAfter);
                    _sessionsDue = Math.Min(_sessionsDue, entry.RotateAt);
                }
            }
        }

        switch (status)
        {
            case SecureSessionStatus.Ok:
                break;
            case SecureSessionStatus.Replayed:
            case SecureSessionStatus.TooOld:
                SessionCounters.Replayed++;
                return false;
            case SecureSessionStatus.UnknownEpoch:
                SessionCounters.UnknownEpoch++;
                return false;
            default:
                SessionCounters.AuthenticationFailed++;
                return false;
        }

        entry.LastUsed = now;
        entry.Confirmed = true;
        SessionCounters.Opened++;

        // A datagram that opens proves return routability: its sender holds the session keys, which take the hello or
        // hello reply we sent to this address (a spoofer never sees it), and the replay window refuses copies. Replies
        // to it need no padding on the request's side (Engine.Send) and are not cut for anti-amplification.
        _peers[peerId].Routable = true;
        datagram = _openBuffer.AsMemory(0, WireHeader.Size + bodyLength);
        return true;
    }

    /// <summary>
    /// A hello from a would-be member. Cheapest first: decode, our own credential, crossing hellos, the token bucket;
    /// then the credential and proof (Ed25519), then the key agreement. Any failure is silent.
    /// </summary>
    private void OnHello(ReadOnlyMemory<byte> datagram, in WireHeader header, SocketAddress source, long now)
    {
        if (!TryDecode(datagram, header, out Hello hello))
        {
            return;
        }

        if (_ownCredentialExpired)
        {
            SessionCounters.HandshakesWhileExpired++;
            return;
        }

        bool known = _peers.TryGet(source, out int peerId);
        int slot = known ? _peers[peerId].Session - 1 : -1;
        if (slot >= 0 && _sessionTable[slot].Handshake is not null && _security.PublicKey.Span.SequenceCompareTo(hello.PublicKey.Span) < 0)
        {
            // Both sides said hello at once: the smaller public key's hello wins; the other side answers ours instead.
            SessionCounters.HandshakesCrossed++;
            return;
        }

        // Return routability before any state, token or signature check: an address that has not shown it receives
        // here gets a cookie for its hello, no larger than the hello, and nothing is kept (a forged source costs one
        // MAC and cannot drain the handshake bucket). Only for a plausible credential (the cheap checks of a
        // DrtCredential: network, root, member, validity), so an outsider without a member's credential gets nothing.
        if (!IsRoutable(source) && !IsValidCookie(hello.Cookie.Span, source, now))
        {
            if (_security is DerivedKeySecurityProvider derived && derived.PrecheckCredential(hello.Credential.Span, hello.PublicKey.Span, WallClock(now)) != DrtCredentialStatus.Valid)
            {
                SessionCounters.HandshakesRefused++;
                return;
            }

            SendCookie(header.MessageId, datagram.Length, source, now);
            return;
        }

        if (!TakeHandshakeToken(now))
        {
            SessionCounters.HandshakesRateLimited++;
            return;
        }

        if (_security.CheckCredential(hello.Credential.Span, hello.PublicKey.Span, WallClock(now)) != DrtCredentialStatus.Valid
            || !VerifyProof(hello.PublicKey.Span, initiator: true, hello.EphemeralKey.Span, default, hello.Proof.Span))
        {
            SessionCounters.HandshakesRefused++;
            return;
        }

        ISecureSession? session = null;
        using (ISessionHandshake? handshake = _security.BeginSession())
        {
            if (handshake is not null)
            {
                handshake.LocalEphemeralKey.CopyTo(_replyEphemeral);
                Span<byte> message = stackalloc byte[ProofMessageLength];
                int length = SessionHandshake.WriteProofMessage(_options.NetworkId, isInitiator: false, _replyEphemeral, hello.EphemeralKey.Span, message);
                _security.Sign(message[..length], _replyProof);
                session = handshake.Complete(hello.EphemeralKey.Span, hello.PublicKey.Span, isInitiator: false);
            }
        }

        if (session is null)
        {
            SessionCounters.HandshakesRefused++;
            return;
        }

        // Never more bytes back than the hello brought (its padding pays for a longer credential label).
        var reply = new HelloReply(_security.LocalCredential, _security.PublicKey, _replyEphemeral, _replyProof);
        ReadOnlySpan<byte> encoded = WireCodec.Encode(WireHeader.Create(_context, MessageType.HelloReply, header.MessageId), reply, _helloOut!);
        if (encoded.Length > datagram.Length
            || (!known && !_peers.TryGetOrAdd(source, out peerId, out _) && !TryAddAfterCollect(source, out peerId))
            || (slot = _peers[peerId].Session - 1) < 0 && (slot = AllocateSession(peerId, now)) < 0)
        {
            session.Dispose();
            SessionCounters.HandshakesRefused++;
            return;
        }

        ref SessionEntry entry = ref _sessionTable[slot];
        if (entry.Handshake is not null)
        {
            // Ours crossed theirs and lost the tie-break: theirs is the session; what we held goes out under it.
            entry.Handshake.Dispose();
            entry.Handshake = null;
            entry.HelloDeadline = long.MaxValue;
            _handshakesInFlight--;
        }

        if (entry.Current is null)
        {
            InstallSession(ref entry, session, now);
        }
        else
        {
            // A session exists: this hello may be a replay (its ephemeral is then useless to the sender) or a peer that
            // restarted. Keep sending with the old one until the new one authenticates a datagram from the peer.
            entry.Alternate?.Dispose();
            entry.Alternate = session;
            entry.AlternateIsNewer = true;
            entry.AlternateAt = now;
        }

        entry.PeerNotAfter = PeerNotAfter(hello.Credential.Span);
        entry.LastUsed = now;
        _sessionsDue = Math.Min(_sessionsDue, entry.PeerNotAfter);
        SessionCounters.HandshakesAccepted++;
        SendDatagram(encoded, MessageType.HelloReply, source, maintenance: true);
        FlushHeld(slot);
    }

    /// <summary>
    /// A cookie for our hello (the responder does not know our address yet): the hello goes again at once, with the
    /// cookie, same id and keys; its retransmission schedule is unchanged. Only for a handshake of ours in flight to that
    /// address under that id, and at most <see cref="MaxCookieRounds"/> times per handshake.
    /// </summary>
    private void OnHelloCookie(ReadOnlyMemory<byte> datagram, in WireHeader header, SocketAddress source, long now)
    {
        if (!TryDecode(datagram, header, out HelloCookie cookie))
        {
            return;
        }

        if (!_peers.TryGet(source, out int peerId) || _peers[peerId].Session == 0
            || _sessionTable[_peers[peerId].Session - 1] is not { Handshake: not null } pending || pending.HelloId != header.MessageId
            || pending.CookieRounds >= MaxCookieRounds)
        {
            Counters.Unsolicited++;
            return;
        }

        int slot = _peers[peerId].Session - 1;
        ref SessionEntry entry = ref _sessionTable[slot];
        entry.Cookie ??= new byte[WireLimits.CookieLength];
        cookie.Cookie.Span.CopyTo(entry.Cookie);
        entry.HasCookie = true;
        entry.CookieRounds++;
        SessionCounters.CookiesReceived++;
        SendHello(slot, now, retransmission: false);
    }

    /// <summary>Answers a hello from an unproven address with its cookie, if that is no larger than the hello.</summary>
    private void SendCookie(ulong helloId, int helloBytes, SocketAddress source, long now)
    {
        WriteCookie(source, now / CookieSlotMicros, _cookieOut);
        ReadOnlySpan<byte> encoded = WireCodec.Encode(WireHeader.Create(_context, MessageType.HelloCookie, helloId), new HelloCookie(_cookieOut), _helloOut!);
        if (encoded.Length <= helloBytes)
        {
            SessionCounters.CookiesSent++;
            SendDatagram(encoded, MessageType.HelloCookie, source, maintenance: true);
        }
    }

    /// <summary>Whether <paramref name="cookie"/> is ours for <paramref name="source"/>, made in this time slot or the one before.</summary>
    private bool IsValidCookie(ReadOnlySpan<byte> cookie, SocketAddress source, long now)
    {
        if (cookie.Length != WireLimits.CookieLength)
        {
            return false;
        }

        long slot = now / CookieSlotMicros;
        Span<byte> expected = stackalloc byte[WireLimits.CookieLength];
        for (long s = slot; s >= slot - 1 && s >= 0; s--)
        {
            WriteCookie(source, s, expected);
            if (System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(expected, cookie))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>cookie = BLAKE2b-128(secret; time slot (u64) ‖ the address as the socket layer holds it).</summary>
    private void WriteCookie(SocketAddress source, long slot, Span<byte> cookie)
    {
        Span<byte> message = stackalloc byte[8 + 64];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(message, slot);
        int size = Math.Min(source.Size, 64);
        source.Buffer.Span[..size].CopyTo(message[8..]);
        s_cookieMac.Mac(_cookieKey!, message[..(8 + size)], cookie);
    }

    /// <summary>The answer to our hello: check it, complete the session and send what was held for the peer.</summary>
    private void OnHelloReply(ReadOnlyMemory<byte> datagram, in WireHeader header, SocketAddress source, long now)
    {
        if (!TryDecode(datagram, header, out HelloReply reply))
        {
            return;
        }

        if (!_peers.TryGet(source, out int peerId) || _peers[peerId].Session == 0
            || _sessionTable[_peers[peerId].Session - 1] is not { Handshake: not null } pending || pending.HelloId != header.MessageId)
        {
            Counters.Unsolicited++;
            return;
        }

        int slot = _peers[peerId].Session - 1;
        ref SessionEntry entry = ref _sessionTable[slot];
        if (_security.CheckCredential(reply.Credential.Span, reply.PublicKey.Span, WallClock(now)) != DrtCredentialStatus.Valid
            || !VerifyProof(reply.PublicKey.Span, initiator: false, reply.EphemeralKey.Span, entry.Ephemeral, reply.Proof.Span))
        {
            // Forged or from a non-member: the real answer may still come, so the handshake keeps waiting.
            SessionCounters.HandshakesRefused++;
            return;
        }

        ISessionHandshake handshake = entry.Handshake!;
        ISecureSession? session = handshake.Complete(reply.EphemeralKey.Span, reply.PublicKey.Span, isInitiator: true);
        handshake.Dispose();
        entry.Handshake = null;
        entry.HelloDeadline = long.MaxValue;
        _handshakesInFlight--;
        if (session is null)
        {
            SessionCounters.HandshakesRefused++;
            DropHeld(slot);
            if (entry.Current is null)
            {
                TearDown(slot);
            }

            return;
        }

        if (entry.Current is not null)
        {
            // Renegotiated: the old session still opens what the peer sent before it saw our hello.
            entry.Alternate?.Dispose();
            entry.Alternate = entry.Current;
            entry.AlternateIsNewer = false;
            entry.Current = null;
        }

        InstallSession(ref entry, session, now);
        entry.Confirmed = true; // the reply's proof covers our fresh ephemeral key: the peer holds the session
        entry.PeerNotAfter = PeerNotAfter(reply.Credential.Span);
        entry.LastUsed = now;
        _sessionsDue = Math.Min(_sessionsDue, entry.PeerNotAfter);
        SessionCounters.HandshakesCompleted++;
        FlushHeld(slot);
    }

    // ------------------------------------------------------------------ send

    /// <summary>
    /// The send-path step, after encoding (and fragmenting): seals <paramref name="datagram"/> into the seal buffer and
    /// points it there. False: not to be sent now — held for a handshake (<paramref name="accepted"/> true) or dropped
    /// and counted (false). Hellos pass unsealed.
    /// </summary>
    private bool TrySealOutgoing(ref ReadOnlySpan<byte> datagram, MessageType type, SocketAddress destination, bool maintenance, out bool accepted)
    {
        accepted = true;
        if (type is MessageType.Hello or MessageType.HelloReply or MessageType.HelloCookie)
        {
            return true;
        }

        long now = _inputNow;
        if (datagram.Length + _sealOverhead > _sealBuffer.Length || (!_peers.TryGetOrAdd(destination, out int peerId, out _) && !TryAddAfterCollect(destination, out peerId)))
        {
            SessionCounters.SendsDropped++;
            accepted = false;
            return false;
        }

        int slot = _peers[peerId].Session - 1;
        if (slot < 0 || _sessionTable[slot].Current is null)
        {
            accepted = Hold(datagram, type, peerId, maintenance, now);
            return false;
        }

        ref SessionEntry entry = ref _sessionTable[slot];
        datagram.CopyTo(_sealBuffer);
        _sealBuffer[WireHeader.FlagsOffset] |= (byte)HeaderFlags.Authenticated; // before sealing: the header is authenticated
        int sealedLength;
        while (!entry.Current!.TrySeal(_sealBuffer, WireHeader.Size, datagram.Length - WireHeader.Size, out sealedLength))
        {
            Rotate(ref entry, now); // this epoch's counters are used up (2^62): the next epoch starts at 1
        }

        entry.LastUsed = now;
        if (++entry.SealedInEpoch >= _sessionOptions.RekeyAfterDatagrams)
        {
            Rotate(ref entry, now);
        }

        // A peer that stopped answering may have lost its side (a restart): renegotiate, sending with this one meanwhile.
        // Not while the peer's own renegotiation is under way here (a newer alternate not yet promoted, accepted within
        // the renegotiation interval): it makes fresh keys already, and a second one on top would leave three sessions in
        // play, one more than a slot keeps open. One older than that is stale (the peer's handshake failed) and blocks
        // nothing.
        if (_peers[peerId].ConsecutiveTimeouts >= RenegotiateAfterTimeouts && entry.Handshake is null && now >= entry.RenegotiateAfter
            && !(entry.Alternate is not null && entry.AlternateIsNewer && now - entry.AlternateAt < RenegotiationIntervalMicros))
        {
            _ = StartHandshake(slot, now);
        }

        SessionCounters.Sealed++;
        datagram = _sealBuffer.AsSpan(0, sealedLength);
        return true;
    }

    /// <summary>Holds a datagram for a peer whose session is not there yet, starting its handshake if none is in flight.</summary>
    private bool Hold(ReadOnlySpan<byte> datagram, MessageType type, int peerId, bool maintenance, long now)
    {
        int slot = _peers[peerId].Session - 1;
        if (_ownCredentialExpired || _heldCount >= _held.Length || (slot < 0 && (slot = AllocateSession(peerId, now)) < 0))
        {
            SessionCounters.SendsDropped++;
            return false;
        }

        // Copied before the handshake starts: the hello is encoded into a buffer of its own, but the datagram here may
        // be the engine's shared encode buffer.
        byte[] copy = _heldBytes[_heldCount] ??= new byte[_sealBuffer.Length];
        datagram.CopyTo(copy);
        _held[_heldCount] = new HeldDatagram(slot, datagram.Length, type, maintenance);
        _heldCount++;
        if (_sessionTable[slot].Handshake is null && !StartHandshake(slot, now))
        {
            DropHeld(slot);
            if (_sessionTable[slot].Current is null)
            {
                TearDown(slot);
            }

            return false;
        }

        SessionCounters.Held++;
        return true;
    }

    /// <summary>Sends, sealed, the datagrams held for <paramref name="slot"/>, in the order they were sent.</summary>
    private void FlushHeld(int slot)
    {
        int kept = 0;
        int count = _heldCount;
        _heldCount = 0; // sends below may hold again (never for this slot: it has a session now)
        for (int i = 0; i < count; i++)
        {
            HeldDatagram held = _held[i];
            if (held.Slot == slot)
            {
                SendDatagram(_heldBytes[i].AsSpan(0, held.Length), held.Type, _peers[_sessionTable[slot].PeerId].Address, held.Maintenance);
                continue;
            }

            // Keep the others, in order, at the front (swap the buffers along).
            (_heldBytes[kept], _heldBytes[i]) = (_heldBytes[i], _heldBytes[kept]);
            _held[kept++] = held;
        }

        _heldCount = kept;
    }

    /// <summary>Forgets the datagrams held for <paramref name="slot"/> (its handshake failed or it went), counting them.</summary>
    private void DropHeld(int slot)
    {
        int kept = 0;
        for (int i = 0; i < _heldCount; i++)
        {
            if (_held[i].Slot == slot)
            {
                SessionCounters.SendsDropped++;
                continue;
            }

            (_heldBytes[kept], _heldBytes[i]) = (_heldBytes[i], _heldBytes[kept]);
            _held[kept++] = _held[i];
        }

        _heldCount = kept;
    }

    // ------------------------------------------------------------------ handshakes

    /// <summary>Begins our side of a handshake with the peer of <paramref name="slot"/> and sends the first hello.</summary>
    private bool StartHandshake(int slot, long now)
    {
        if (_ownCredentialExpired || _handshakesInFlight >= _sessionOptions.MaxHandshakes || _security.BeginSession() is not { } handshake)
        {
            return false;
        }

        ref SessionEntry entry = ref _sessionTable[slot];
        entry.Handshake = handshake;
        entry.Ephemeral ??= new byte[WireLimits.EphemeralKeyLength];
        entry.Proof ??= new byte[WireLimits.SignatureLength];
        handshake.LocalEphemeralKey.CopyTo(entry.Ephemeral);
        Span<byte> message = stackalloc byte[ProofMessageLength];
        int length = SessionHandshake.WriteProofMessage(_options.NetworkId, isInitiator: true, entry.Ephemeral, default, message);
        _security.Sign(message[..length], entry.Proof);
        entry.HelloId = NewMessageId();
        entry.HelloAttempts = 0;
        entry.HasCookie = false;
        entry.CookieRounds = 0;
        entry.RenegotiateAfter = now + RenegotiationIntervalMicros;
        _handshakesInFlight++;
        SessionCounters.HandshakesStarted++;
        SendHello(slot, now);
        return true;
    }

    /// <summary>
    /// Sends (or sends again, same id and keys, with the responder's cookie once it gave one) our hello; unless it answers
    /// a cookie (<paramref name="retransmission"/> false), sets its deadline, doubled per attempt.
    /// </summary>
    private void SendHello(int slot, long now, bool retransmission = true)
    {
        ref SessionEntry entry = ref _sessionTable[slot];
        ReadOnlyMemory<byte> cookie = entry.HasCookie ? entry.Cookie : default;
        var hello = new Hello(_security.LocalCredential, _security.PublicKey, entry.Ephemeral, entry.Proof, WireLimits.MaxHelloPadding, cookie);
        ReadOnlySpan<byte> encoded = WireCodec.Encode(WireHeader.Create(_context, MessageType.Hello, entry.HelloId), hello, _helloOut!);
        SendDatagram(encoded, MessageType.Hello, _peers[entry.PeerId].Address, maintenance: true);
        if (!retransmission)
        {
            return;
        }

        entry.HelloDeadline = now + (MicrosOf(_sessionOptions.HandshakeTimeout) << entry.HelloAttempts);
        entry.HelloAttempts++;
        _sessionsDue = Math.Min(_sessionsDue, entry.HelloDeadline);
    }

    /// <summary>Our handshake got no valid answer: forget it and what was held for it.</summary>
    private void FailHandshake(int slot)
    {
        ref SessionEntry entry = ref _sessionTable[slot];
        entry.Handshake!.Dispose();
        entry.Handshake = null;
        entry.HelloDeadline = long.MaxValue;
        _handshakesInFlight--;
        SessionCounters.HandshakesFailed++;
        DropHeld(slot);
        if (entry.Current is null)
        {
            TearDown(slot);
        }
    }

    private void InstallSession(ref SessionEntry entry, ISecureSession session, long now)
    {
        entry.Current?.Dispose();
        entry.Current = session;
        entry.SealedInEpoch = 0;
        entry.RotateAt = now + MicrosOf(_sessionOptions.RekeyAfter);
        _sessionsDue = Math.Min(_sessionsDue, entry.RotateAt);
    }

    private void Rotate(ref SessionEntry entry, long now)
    {
        entry.Current!.RotateSendKey();
        entry.SealedInEpoch = 0;
        entry.RotateAt = now + MicrosOf(_sessionOptions.RekeyAfter);
        _sessionsDue = Math.Min(_sessionsDue, entry.RotateAt);
        SessionCounters.Rotations++;
    }

    /// <summary>One token of the handshake bucket, refilled on the engine's clock.</summary>
    private bool TakeHandshakeToken(long now)
    {
        double refill = (now - _tokensAt) * (_sessionOptions.HandshakesPerSecond / 1_000_000.0);
        _tokensAt = now;
        _handshakeTokens = Math.Min(_sessionOptions.HandshakeBurst, _handshakeTokens + Math.Max(refill, 0));
        if (_handshakeTokens < 1)
        {
            return false;
        }

        _handshakeTokens -= 1;
        return true;
    }

    /// <summary>Whether <paramref name="proof"/> is <paramref name="publicKey"/>'s signature over its ephemeral key (and ours).</summary>
    private bool VerifyProof(ReadOnlySpan<byte> publicKey, bool initiator, ReadOnlySpan<byte> ephemeral, ReadOnlySpan<byte> peerEphemeral, ReadOnlySpan<byte> proof)
    {
        Span<byte> message = stackalloc byte[ProofMessageLength];
        int length = SessionHandshake.WriteProofMessage(_options.NetworkId, initiator, ephemeral, peerEphemeral, message);
        return _security.Verify(publicKey, message[..length], proof);
    }

    // ------------------------------------------------------------------ the table

    /// <summary>
    /// A slot for <paramref name="peerId"/>: a free one, a new one while under <see cref="SessionOptions.MaxSessions"/>,
    /// else the least recently used slot without a handshake in flight (evicted). −1 when every slot is mid-handshake.
    /// </summary>
    private int AllocateSession(int peerId, long now)
    {
        int slot = -1;
        for (int i = 0; i < _sessionTable.Length && slot < 0; i++)
        {
            slot = _sessionTable[i].PeerId < 0 ? i : -1;
        }

        if (slot < 0 && _sessionTable.Length < _sessionOptions.MaxSessions)
        {
            slot = _sessionTable.Length;
            int grown = Math.Min(_sessionOptions.MaxSessions, _sessionTable.Length * 2);
            Array.Resize(ref _sessionTable, grown);
            _sessionTable.AsSpan(slot).Fill(SessionEntry.Free);
        }

        if (slot < 0)
        {
            // Sessions the peer has never used go first: a hello replayed from a forged source (valid credential and
            // proof, but no ephemeral key behind it) makes one, and a stream of them must not push out live sessions.
            bool oldestConfirmed = true;
            long oldest = long.MaxValue;
            for (int i = 0; i < _sessionTable.Length; i++)
            {
                ref SessionEntry candidate = ref _sessionTable[i];
                if (candidate.Handshake is null
                    && ((oldestConfirmed && !candidate.Confirmed) || (candidate.Confirmed == oldestConfirmed && candidate.LastUsed < oldest)))
                {
                    oldest = candidate.LastUsed;
                    oldestConfirmed = candidate.Confirmed;
                    slot = i;
                }
            }

            if (slot < 0)
            {
                return -1;
            }

            TearDown(slot);
            SessionCounters.Evicted++;
        }

        ref SessionEntry entry = ref _sessionTable[slot];
        entry.PeerId = peerId;
        entry.LastUsed = now;
        _peers[peerId].Session = slot + 1;
        _sessionCount++;
        SessionCounters.Active = _sessionCount;
        return slot;
    }

    /// <summary>Ends the session in <paramref name="slot"/>: keys disposed, held datagrams dropped, the slot free.</summary>
    private void TearDown(int slot)
    {
        ref SessionEntry entry = ref _sessionTable[slot];
        if (entry.Handshake is not null)
        {
            entry.Handshake.Dispose();
            _handshakesInFlight--;
        }

        entry.Current?.Dispose();
        entry.Alternate?.Dispose();
        DropHeld(slot);
        _peers[entry.PeerId].Session = 0;
        byte[]? ephemeral = entry.Ephemeral;
        byte[]? proof = entry.Proof;
        entry = SessionEntry.Free;
        entry.Ephemeral = ephemeral; // scratch kept with the slot, so a busy table does not allocate per handshake
        entry.Proof = proof;
        _sessionCount--;
        SessionCounters.Active = _sessionCount;
    }

    /// <summary>
    /// The session deadlines, swept only when the earliest is due: our own credential's expiry, peers' credential
    /// expiries (sessions torn down at that instant), hello retransmissions and time-based rekeying. Returns the next.
    /// </summary>
    private long ServiceSessions(long now)
    {
        if (!_sealing || now < _sessionsDue)
        {
            return _sessionsDue;
        }

        if (!_ownCredentialExpired && now >= _ownNotAfter)
        {
            _ownCredentialExpired = true;
            for (int slot = 0; slot < _sessionTable.Length; slot++)
            {
                if (_sessionTable[slot].PeerId >= 0)
                {
                    TearDown(slot);
                }
            }

            CredentialExpired?.Invoke();
        }

        long next = _ownCredentialExpired ? long.MaxValue : _ownNotAfter;
        for (int slot = 0; slot < _sessionTable.Length; slot++)
        {
            ref SessionEntry entry = ref _sessionTable[slot];
            if (entry.PeerId < 0)
            {
                continue;
            }

            if (now >= entry.PeerNotAfter)
            {
                TearDown(slot);
                SessionCounters.Expired++;
                continue;
            }

            if (entry.Handshake is not null && now >= entry.HelloDeadline)
            {
                if (entry.HelloAttempts < _sessionOptions.HandshakeAttempts)
                {
                    SendHello(slot, now);
                }
                else
                {
                    FailHandshake(slot);
                    if (entry.PeerId < 0)
                    {
                        continue;
                    }
                }
            }

            if (entry.Current is not null && now >= entry.RotateAt)
            {
                Rotate(ref entry, now);
            }

            next = Math.Min(next, Math.Min(entry.PeerNotAfter, Math.Min(entry.HelloDeadline, entry.Current is null ? long.MaxValue : entry.RotateAt)));
        }

        _sessionsDue = next;
        return next;
    }

    // ------------------------------------------------------------------ time

    /// <summary>Wall-clock time at engine time <paramref name="now"/> (credentials are valid between wall-clock instants).</summary>
    private DateTimeOffset WallClock(long now) => _wallEpoch + TimeSpan.FromTicks(now * TimeSpan.TicksPerMicrosecond);

    /// <summary>Engine time (µs) of a wall-clock instant, or of a span when given one.</summary>
    private long MicrosOf(DateTimeOffset instant) => (instant - _wallEpoch).Ticks / TimeSpan.TicksPerMicrosecond;

    private static long MicrosOf(TimeSpan span) => span.Ticks / TimeSpan.TicksPerMicrosecond;

    /// <summary>When a peer's credential stops being valid, in engine time; never for credentials we cannot read.</summary>
    private long PeerNotAfter(ReadOnlySpan<byte> credential) =>
        DrtCredential.TryParse(credential, out DrtCredential? parsed) ? MicrosOf(parsed.NotAfter) : long.MaxValue;

    /// <summary>One slot of the session table: a peer's session, and our handshake with it while one is in flight.</summary>
    private struct SessionEntry
    {
        public static readonly SessionEntry Free = new()
        {
            PeerId = -1,
            HelloDeadline = long.MaxValue,
            PeerNotAfter = long.MaxValue,
            RotateAt = long.MaxValue,
        };

        /// <summary>The peer (−1: free).</summary>
        public int PeerId;

        /// <summary>Seals everything sent to the peer and opens what it sends.</summary>
        public ISecureSession? Current;

        /// <summary>Opens only: a newer session awaiting the peer's first datagram, or the one a renegotiation replaced.</summary>
        public ISecureSession? Alternate;

        /// <summary>Whether <see cref="Alternate"/> is newer (promoted when it opens a datagram) or older.</summary>
        public bool AlternateIsNewer;

        /// <summary>When a newer <see cref="Alternate"/> was accepted (engine time).</summary>
        public long AlternateAt;

        /// <summary>Our handshake with the peer, while our hello awaits its reply.</summary>
        public ISessionHandshake? Handshake;

        /// <summary>Our hello's ephemeral key and proof (kept for retransmissions; allocated once per slot).</summary>
        public byte[]? Ephemeral;

        /// <summary>See <see cref="Ephemeral"/>.</summary>
        public byte[]? Proof;

        /// <summary>The responder's cookie for our address (allocated once per slot), sent in our hello when <see cref="HasCookie"/>.</summary>
        public byte[]? Cookie;

        public bool HasCookie;
        public int CookieRounds;
        public ulong HelloId;
        public int HelloAttempts;
        public long HelloDeadline;
        public long RenegotiateAfter;

        /// <summary>Engine time at which the peer's credential expires: the session ends then.</summary>
        public long PeerNotAfter;

        public long RotateAt;
        public long SealedInEpoch;
        public long LastUsed;

        /// <summary>A datagram from the peer has opened under this slot's session (the peer holds the keys).</summary>
        public bool Confirmed;
    }

    /// <summary>A datagram waiting for its peer's session (bytes in the parallel <c>_heldBytes</c>).</summary>
    private readonly record struct HeldDatagram(int Slot, int Length, MessageType Type, bool Maintenance);
}
