using System.Buffers.Binary;
using System.Security.Cryptography;
using NSec.Cryptography;

namespace Drt.Overlay.Security;

/// <summary>
/// A ChaCha20-Poly1305 session between two peers (<see cref="ISecureSession"/>): one key per direction and epoch, from
/// the handshake's HKDF pseudorandom key. Trailer after the body: epoch (low byte, 1) ‖ counter (u64 big-endian, 8) ‖
/// tag (16). Nonce: epoch (u32 big-endian) ‖ counter (u64 big-endian).
/// </summary>
/// <remarks>
/// <para>
/// Membership (authenticated only): the body stays plain and the tag is ChaCha20-Poly1305 over an empty plaintext
/// with header ‖ body as associated data. Confidential: the body is encrypted in place with the header as associated
/// data. Epoch and counter are authenticated through the nonce.
/// </para>
/// <para>
/// Rotation: the sender moves to epoch e+1 (<see cref="RotateSendKey"/>); the receiver keeps the previous epoch's key
/// and window (datagrams still in flight), derives the next epoch's key once, and switches when a datagram of the next
/// epoch authenticates. Directions are separate keys, so a datagram reflected back to its sender fails.
/// </para>
/// </remarks>
internal sealed class SecureSession : ISecureSession
{
    /// <summary>Bytes of the trailer.</summary>
    public const int TrailerLength = 1 + 8 + TagLength;

    private const int TagLength = 16;
    private const int NonceLength = 12;

    // Keep clear of the end so the counter can never wrap; a session would need 2^62 datagrams to get there.
    private const ulong MaxCounter = 1UL << 62;

    private static readonly AeadAlgorithm s_aead = AeadAlgorithm.ChaCha20Poly1305;

    private readonly bool _encrypt;
    private readonly bool _isInitiator;
    private readonly byte[] _pseudorandomKey;
    private Key _sendKey;
    private ulong _sendCounter;
    private Receiver _current;
    private Receiver _previous;
    private Key? _nextReceiveKey;
    private bool _disposed;

    internal SecureSession(bool encrypt, bool isInitiator, byte[] pseudorandomKey, ulong sessionId)
    {
        _encrypt = encrypt;
        _isInitiator = isInitiator;
        _pseudorandomKey = pseudorandomKey;
        SessionId = sessionId;
        _sendKey = DeriveKey(sending: true, epoch: 0);
        _current = new Receiver(DeriveKey(sending: false, epoch: 0), 0);
    }

    /// <inheritdoc/>
    public ulong SessionId { get; }

    /// <inheritdoc/>
    public uint SendEpoch { get; private set; }

    /// <inheritdoc/>
    public int Overhead => TrailerLength;

    /// <inheritdoc/>
    public bool TrySeal(Span<byte> datagram, int headerLength, int bodyLength, out int sealedLength)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int end = headerLength + bodyLength;
        if (headerLength < 0 || bodyLength < 0 || end + TrailerLength > datagram.Length)
        {
            throw new DrtException(DrtError.InvalidArgument, $"Sealing needs {TrailerLength} spare bytes after header ({headerLength}) and body ({bodyLength}); the buffer has {datagram.Length}.");
        }

        sealedLength = 0;
        if (_sendCounter >= MaxCounter)
        {
            return false;
        }

        ulong counter = ++_sendCounter;
        Span<byte> nonce = stackalloc byte[NonceLength];
        WriteNonce(nonce, SendEpoch, counter);
        Span<byte> trailer = datagram.Slice(end, TrailerLength);
        trailer[0] = (byte)SendEpoch;
        BinaryPrimitives.WriteUInt64BigEndian(trailer[1..], counter);
        Span<byte> tag = trailer[9..];
        if (_encrypt)
        {
            // NSec writes ciphertext ‖ tag; encrypt in place over the body, then move the tag behind the counter.
            Span<byte> body = datagram.Slice(headerLength, bodyLength + TagLength);
            Span<byte> savedCounter = stackalloc byte[9];
            trailer[..9].CopyTo(savedCounter);
            s_aead.Encrypt(_sendKey, nonce, datagram[..headerLength], datagram.Slice(headerLength, bodyLength), body);
            Span<byte> tagCopy = stackalloc byte[TagLength];
            body[bodyLength..].CopyTo(tagCopy);
            savedCounter.CopyTo(trailer);
            tagCopy.CopyTo(tag);
        }
        else
        {
            s_aead.Encrypt(_sendKey, nonce, datagram[..end], ReadOnlySpan<byte>.Empty, tag);
        }

        sealedLength = end + TrailerLength;
        return true;
    }

    /// <inheritdoc/>
    public SecureSessionStatus TryOpen(Span<byte> datagram, int headerLength, out int bodyLength)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        bodyLength = 0;
        if (headerLength < 0 || datagram.Length - headerLength < TrailerLength)
        {
            return SecureSessionStatus.Truncated;
        }

        int length = datagram.Length - headerLength - TrailerLength;
        ReadOnlySpan<byte> trailer = datagram[(headerLength + length)..];
        byte wireEpoch = trailer[0];
        ulong counter = BinaryPrimitives.ReadUInt64BigEndian(trailer[1..]);

        // Which receive key: current, previous (in flight across a rotation) or next (the peer rotated).
        ref Receiver receiver = ref _current;
        bool isNext = false;
        if (wireEpoch != (byte)_current.Epoch)
        {
            if (_previous.Key is not null && wireEpoch == (byte)_previous.Epoch)
            {
                receiver = ref _previous;
            }
            else if (wireEpoch == (byte)(_current.Epoch + 1))
            {
                isNext = true;
            }
            else
            {
                return SecureSessionStatus.UnknownEpoch;
            }
        }

        uint epoch = isNext ? _current.Epoch + 1 : receiver.Epoch;
        if (!isNext)
        {
            ReplayWindow.Result fresh = receiver.Window.Check(counter);
            if (fresh != ReplayWindow.Result.Fresh)
            {
                return fresh == ReplayWindow.Result.Replayed ? SecureSessionStatus.Replayed : SecureSessionStatus.TooOld;
            }
        }
        else if (counter == 0)
        {
            return SecureSessionStatus.TooOld;
        }

        // Derived once per epoch, not per datagram: junk datagrams claiming the next epoch cost a tag check only.
        Key key = isNext ? (_nextReceiveKey ??= DeriveKey(sending: false, epoch)) : receiver.Key!;
        Span<byte> nonce = stackalloc byte[NonceLength];
        WriteNonce(nonce, epoch, counter);
        ReadOnlySpan<byte> tag = trailer[9..];
        bool authentic;
        if (_encrypt)
        {
            // NSec reads ciphertext ‖ tag: move the tag next to the ciphertext (over the epoch and counter, already read).
            Span<byte> body = datagram.Slice(headerLength, length + TagLength);
            Span<byte> tagCopy = stackalloc byte[TagLength];
            tag.CopyTo(tagCopy);
            tagCopy.CopyTo(body[length..]);
            authentic = s_aead.Decrypt(key, nonce, datagram[..headerLength], body, datagram.Slice(headerLength, length));
        }
        else
        {
            authentic = s_aead.Decrypt(key, nonce, datagram[..(headerLength + length)], tag, Span<byte>.Empty);
        }

        if (!authentic)
        {
            return SecureSessionStatus.AuthenticationFailed;
        }

        if (isNext)
        {
            // The peer has rotated: the current key becomes the previous one (still open for datagrams in flight).
            _previous.Key?.Dispose();
            _previous = _current;
            _current = new Receiver(key, epoch);
            _nextReceiveKey = null;
            receiver = ref _current;
        }

        receiver.Window.Mark(counter);
        bodyLength = length;
        return SecureSessionStatus.Ok;
    }

    /// <inheritdoc/>
    public void RotateSendKey()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Key next = DeriveKey(sending: true, SendEpoch + 1);
        _sendKey.Dispose();
        _sendKey = next;
        SendEpoch++;
        _sendCounter = 0;
    }

    /// <summary>Disposes the keys and clears the pseudorandom key.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _sendKey.Dispose();
        _current.Key?.Dispose();
        _previous.Key?.Dispose();
        _nextReceiveKey?.Dispose();
        CryptographicOperations.ZeroMemory(_pseudorandomKey);
    }

    private static void WriteNonce(Span<byte> nonce, uint epoch, ulong counter)
    {
        BinaryPrimitives.WriteUInt32BigEndian(nonce, epoch);
        BinaryPrimitives.WriteUInt64BigEndian(nonce[4..], counter);
    }

    private Key DeriveKey(bool sending, uint epoch)
    {
        // The initiator sends with the i→r key and receives with r→i; the responder the other way round.
        bool initiatorToResponder = sending == _isInitiator;
        return SessionHandshake.DeriveDirectionKey(_pseudorandomKey, initiatorToResponder, epoch);
    }

    private struct Receiver
    {
        public Key? Key;
        public uint Epoch;
        public ReplayWindow Window;

        public Receiver(Key key, uint epoch)
        {
            Key = key;
            Epoch = epoch;
            Window = default;
        }
    }
}
