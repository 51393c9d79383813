using System.Buffers;
using System.Buffers.Binary;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;
using MessagePack;
using NSec.Cryptography;

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
/// Canonical record, integers big-endian: network id (u32) · key (32) · u8 len ‖ public key · u16 len ‖ classifier ·
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
    /// Feeds the canonical record into SHA-256. An <see cref="IBufferWriter{T}"/> so that endpoints go through their
    /// own encoder (one definition of their bytes); it owns a small scratch buffer and allocates nothing per record.
    /// </summary>
    private sealed class RecordHasher : IBufferWriter<byte>
    {
        private readonly byte[] _scratch = new byte[64];
        private IncrementalHash _hash;

        public void Hash(uint networkId, in SignedRecord record, Span<byte> digest)
        {
            IncrementalHash.Initialize(HashAlgorithm.Sha256, out _hash);
            Span<byte> fixedPart = stackalloc byte[8];
            BinaryPrimitives.WriteUInt32BigEndian(fixedPart, networkId);
            IncrementalHash.Update(ref _hash, fixedPart[..4]);

            Span<byte> key = stackalloc byte[Key256.Size];
            record.Key.WriteBigEndian(key);
            IncrementalHash.Update(ref _hash, key);

            // The decoder bounds each length (public key 32, classifier 256, app data 5,120, endpoints 20).
            fixedPart[0] = (byte)record.PublicKey.Length;
            IncrementalHash.Update(ref _hash, fixedPart[..1]);
            IncrementalHash.Update(ref _hash, record.PublicKey.Span);
            UpdateLength16(record.Classifier.Length);
            IncrementalHash.Update(ref _hash, record.Classifier.Span);

            fixedPart[0] = (byte)record.Endpoints.Count;
            IncrementalHash.Update(ref _hash, fixedPart[..1]);
            var writer = new MessagePackWriter(this);
            foreach (WireEndpoint endpoint in record.Endpoints)
            {
                endpoint.Write(ref writer);
            }

            writer.Flush();

            UpdateLength16(record.AppData.Length);
            IncrementalHash.Update(ref _hash, record.AppData.Span);
            BinaryPrimitives.WriteUInt64BigEndian(fixedPart, record.Sequence);
            IncrementalHash.Update(ref _hash, fixedPart);
            BinaryPrimitives.WriteUInt64BigEndian(fixedPart, record.ExpiresUnixSeconds);
            IncrementalHash.Update(ref _hash, fixedPart);
            fixedPart[0] = (byte)record.Flags;
            IncrementalHash.Update(ref _hash, fixedPart[..1]);
            IncrementalHash.Finalize(ref _hash, digest[..DigestLength]);
        }

        private void UpdateLength16(int length)
        {
            Span<byte> bytes = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)length);
            IncrementalHash.Update(ref _hash, bytes);
        }

        public void Advance(int count) => IncrementalHash.Update(ref _hash, _scratch.AsSpan(0, count));

        public Memory<byte> GetMemory(int sizeHint = 0) => sizeHint <= _scratch.Length
            ? _scratch
            : throw new InvalidOperationException($"The record hasher hashes endpoints only; {sizeHint} bytes were asked for.");

        public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;
    }
}
