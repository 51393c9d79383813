using System.Buffers;
using System.Buffers.Binary;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;
using MessagePack;

namespace Drt.Overlay.Security;

/// <summary>What checking a received record found.</summary>
internal enum RecordStatus
{
    /// <summary>Signed by the owner of its key, current, and not expired.</summary>
    Valid = 0,

    /// <summary>A public key or signature is missing or of the wrong length in a secure mode.</summary>
    Malformed = 1,

    /// <summary>The key is not derived from the record's public key and classifier (or the provider refuses it).</summary>
    InvalidKey = 2,

    /// <summary>The signature does not match (tampered, forged, or signed for another network).</summary>
    BadSignature = 3,

    /// <summary>Its validity has passed.</summary>
    Expired = 4,

    /// <summary>A newer sequence of the same key has already been verified.</summary>
    Stale = 5,
}

/// <summary>
/// What a record signature covers, and signing and checking it (DESIGN §5). The signature is Ed25519 by the owner
/// over u8 len ‖ "drt.overlay/record/v1" ‖ digest, where digest = SHA-256 of the canonical record:
/// </summary>
/// <remarks>
/// Canonical record, integers big-endian: network id (u32) · key (32) · u8 len ‖ public key · u8 len ‖ exchange key ·
/// u16 len ‖ classifier ·
/// u8 count ‖ each endpoint as on the wire (MessagePack bin8: 0xC4, 6 or 18, address ‖ port) · u16 len ‖ app data ·
/// sequence (u64) · expires, Unix seconds, 0 = never (u64) · flags (u8). Every field of <see cref="SignedRecord"/>
/// but the signature, and the network id, so a record signed for one network does not verify in another. The
/// endpoints are re-encoded from their values, so a relay that re-encodes a record cannot change what was signed.
/// The digest doubles as the record's identity in the verification cache.
/// </remarks>
internal static class RecordSigning
{
    /// <summary>Bytes of the digest.</summary>
    public const int DigestLength = 32;

    /// <summary>Bytes of the message a record signature covers.</summary>
    public static int SignedMessageLength => 1 + SecurityTags.Record.Length + DigestLength;

    [ThreadStatic]
    private static RecordHasher? s_hasher;

    /// <summary>Computes the record's digest; allocation-free after the first call on a thread.</summary>
    public static void ComputeDigest(uint networkId, in SignedRecord record, Span<byte> digest)
    {
        RecordHasher hasher = s_hasher ??= new RecordHasher();
        hasher.Hash(networkId, record, digest);
    }

    /// <summary>Writes the message the signature covers for <paramref name="digest"/>; returns its length.</summary>
    public static int WriteSignedMessage(ReadOnlySpan<byte> digest, Span<byte> destination)
    {
        int offset = SecurityTags.WritePrefix(SecurityTags.Record, destination);
        digest[..DigestLength].CopyTo(destination[offset..]);
        return offset + DigestLength;
    }

    /// <summary>
    /// Signs <paramref name="record"/> (whose signature field is ignored) with the provider's identity into
    /// <paramref name="signature"/> (<see cref="ISecurityProvider.SignatureLength"/> bytes).
    /// </summary>
    /// <exception cref="DrtException">InvalidKey: the provider does not allow its own identity to publish the record's key.</exception>
    public static void Sign(ISecurityProvider provider, uint networkId, in SignedRecord record, Span<byte> signature)
    {
        if (!provider.IsKeyAllowed(record.Key, provider.PublicKey.Span, record.Classifier.Span))
        {
            throw new DrtException(DrtError.InvalidKey, $"Key {record.Key.ToShortString()} is not derived from this instance's identity and the record's classifier; derive it with DrtIdentity.DeriveKey(classifier).");
        }

        Span<byte> digest = stackalloc byte[DigestLength];
        ComputeDigest(networkId, record, digest);
        Span<byte> message = stackalloc byte[SignedMessageLength];
        provider.Sign(message[..WriteSignedMessage(digest, message)], signature);
    }

    /// <summary>
    /// Checks a record without the cache: expiry at <paramref name="nowUnixSeconds"/>, key derivation, then the
    /// signature (cheapest first). <paramref name="digest"/> receives the record's digest (unless the record expired).
    /// </summary>
    public static RecordStatus Verify(ISecurityProvider provider, uint networkId, in SignedRecord record, long nowUnixSeconds, Span<byte> digest)
    {
        if (IsExpired(record, nowUnixSeconds))
        {
            return RecordStatus.Expired;
        }

        ComputeDigest(networkId, record, digest);
        if (provider.Mode == DrtSecurityMode.None)
        {
            return RecordStatus.Valid;
        }

        ReadOnlySpan<byte> publicKey = record.PublicKey.Span;
        ReadOnlySpan<byte> signature = record.Signature.Span;
        if (publicKey.IsEmpty || signature.Length != provider.SignatureLength)
        {
            return RecordStatus.Malformed;
        }

        if (!provider.IsKeyAllowed(record.Key, publicKey, record.Classifier.Span))
        {
            return RecordStatus.InvalidKey;
        }

        Span<byte> message = stackalloc byte[SignedMessageLength];
        return provider.Verify(publicKey, message[..WriteSignedMessage(digest, message)], signature)
            ? RecordStatus.Valid
            : RecordStatus.BadSignature;
    }

    /// <summary>Whether the record's validity has passed at <paramref name="nowUnixSeconds"/> (expires 0 = never).</summary>
    public static bool IsExpired(in SignedRecord record, long nowUnixSeconds)
        => record.ExpiresUnixSeconds != 0 && (nowUnixSeconds < 0 || (ulong)nowUnixSeconds >= record.ExpiresUnixSeconds);

    /// <summary>
    /// Writes the canonical record into one buffer and hashes it in one call (SHA-256 of the platform, which uses the
    /// CPU's SHA extensions where it has them: a record is hashed on every answer a searcher checks, cache hit or not).
    /// An <see cref="IBufferWriter{T}"/> so that endpoints go through their own encoder (one definition of their
    /// bytes); its buffer holds the largest record the decoder lets through, so nothing is allocated per record.
    /// </summary>
    private sealed class RecordHasher : IBufferWriter<byte>
    {
        // network id, key, public key, exchange key, classifier, endpoints (20 × bin8 of 18), app data, sequence,
        // expires, flags, with their length prefixes.
        private const int MaxCanonicalLength = 4 + Key256.Size + 1 + WireLimits.PublicKeyLength + 1 + WireLimits.ExchangeKeyLength
            + 2 + WireLimits.MaxClassifier + 1 + (WireLimits.MaxRecordEndpoints * 20) + 2 + WireLimits.MaxAppData + 8 + 8 + 1;

        private readonly byte[] _buffer = new byte[MaxCanonicalLength];
        private int _length;

        public void Hash(uint networkId, in SignedRecord record, Span<byte> digest)
        {
            // The decoder bounds each length (public and exchange key 32, classifier 256, app data 5,120, endpoints 20);
            // a record built locally is bounded by the engine's own checks, and a span overrun would throw, not corrupt.
            _length = 0;
            BinaryPrimitives.WriteUInt32BigEndian(Take(4), networkId);
            record.Key.WriteBigEndian(Take(Key256.Size));
            Take(1)[0] = (byte)record.PublicKey.Length;
            record.PublicKey.Span.CopyTo(Take(record.PublicKey.Length));
            Take(1)[0] = (byte)record.ExchangeKey.Length;
            record.ExchangeKey.Span.CopyTo(Take(record.ExchangeKey.Length));
            BinaryPrimitives.WriteUInt16BigEndian(Take(2), (ushort)record.Classifier.Length);
            record.Classifier.Span.CopyTo(Take(record.Classifier.Length));

            Take(1)[0] = (byte)record.Endpoints.Count;
            var writer = new MessagePackWriter(this);
            foreach (WireEndpoint endpoint in record.Endpoints)
            {
                endpoint.Write(ref writer);
            }

            writer.Flush();

            BinaryPrimitives.WriteUInt16BigEndian(Take(2), (ushort)record.AppData.Length);
            record.AppData.Span.CopyTo(Take(record.AppData.Length));
            BinaryPrimitives.WriteUInt64BigEndian(Take(8), record.Sequence);
            BinaryPrimitives.WriteUInt64BigEndian(Take(8), record.ExpiresUnixSeconds);
            Take(1)[0] = (byte)record.Flags;
            System.Security.Cryptography.SHA256.HashData(_buffer.AsSpan(0, _length), digest[..DigestLength]);
        }

        public void Advance(int count) => _length += count;

        public Memory<byte> GetMemory(int sizeHint = 0) => _buffer.AsMemory(_length);

        public Span<byte> GetSpan(int sizeHint = 0) => _buffer.AsSpan(_length);

        private Span<byte> Take(int count)
        {
            Span<byte> span = _buffer.AsSpan(_length, count);
            _length += count;
            return span;
        }
    }
}
