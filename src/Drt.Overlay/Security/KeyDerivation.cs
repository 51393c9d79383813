using System.Buffers.Binary;
using System.Text;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;
using NSec.Cryptography;

namespace Drt.Overlay.Security;

/// <summary>
/// Derived keys (DESIGN §5): key = SHA-256(u16 len(tag) ‖ tag ‖ u16 len(public key) ‖ public key ‖ classifier), lengths
/// big-endian, tag <see cref="SecurityTags.Key"/>, classifier as UTF-8 bytes (0..<see cref="WireLimits.MaxClassifier"/>).
/// </summary>
/// <remarks>
/// The same bytes as <see cref="Key256.Derive"/> with this tag (a test holds the two together), but over a classifier
/// given as bytes, since a received record carries bytes that need not be valid UTF-8, and with NSec's SHA-256, which
/// is cheaper for small inputs (DESIGN §6). The tag and the public key carry their lengths and the classifier comes
/// last, so no classifier can make one (tag, key, classifier) encode like another.
/// </remarks>
internal static class KeyDerivation
{
    /// <summary>The key <paramref name="publicKey"/> owns under <paramref name="classifier"/> (UTF-8 bytes, at most 256).</summary>
    public static Key256 Derive(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> classifier)
    {
        if (classifier.Length > WireLimits.MaxClassifier)
        {
            throw new DrtException(DrtError.InvalidArgument, $"A classifier is at most {WireLimits.MaxClassifier} bytes of UTF-8; got {classifier.Length}.");
        }

        IncrementalHash.Initialize(HashAlgorithm.Sha256, out IncrementalHash hash);
        Span<byte> length = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)SecurityTags.Key.Length);
        IncrementalHash.Update(ref hash, length);
        IncrementalHash.Update(ref hash, SecurityTags.Key);
        BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)publicKey.Length);
        IncrementalHash.Update(ref hash, length);
        IncrementalHash.Update(ref hash, publicKey);
        IncrementalHash.Update(ref hash, classifier);
        Span<byte> digest = stackalloc byte[Key256.Size];
        IncrementalHash.Finalize(ref hash, digest);
        return Key256.ReadBigEndian(digest);
    }

    /// <summary>The key <paramref name="publicKey"/> owns under a classifier string.</summary>
    /// <exception cref="DrtException">InvalidArgument: the classifier is null or longer than 256 bytes of UTF-8.</exception>
    public static Key256 Derive(ReadOnlySpan<byte> publicKey, string classifier)
    {
        Span<byte> utf8 = stackalloc byte[WireLimits.MaxClassifier];
        return Derive(publicKey, utf8[..EncodeClassifier(classifier, utf8)]);
    }

    /// <summary>Encodes a classifier into <paramref name="destination"/> (256 bytes); returns its length.</summary>
    /// <exception cref="DrtException">InvalidArgument: null, or longer than 256 bytes of UTF-8.</exception>
    public static int EncodeClassifier(string classifier, Span<byte> destination)
    {
        if (classifier is null)
        {
            throw new DrtException(DrtError.InvalidArgument, "The classifier is null; pass a short application string (\"\" is allowed).");
        }

        if (!Encoding.UTF8.TryGetBytes(classifier, destination[..WireLimits.MaxClassifier], out int written))
        {
            throw new DrtException(DrtError.InvalidArgument, $"A classifier is at most {WireLimits.MaxClassifier} bytes of UTF-8; got {Encoding.UTF8.GetByteCount(classifier)}.");
        }

        return written;
    }

    /// <summary>Whether <paramref name="key"/> is the key <paramref name="publicKey"/> owns under <paramref name="classifier"/>.</summary>
    /// <remarks>Never throws: a record from the network with a bad length is simply not derived.</remarks>
    public static bool IsDerived(Key256 key, ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> classifier)
        => publicKey.Length == WireLimits.PublicKeyLength
            && classifier.Length <= WireLimits.MaxClassifier
            && Derive(publicKey, classifier) == key;
}
