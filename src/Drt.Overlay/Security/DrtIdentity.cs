using System.Security.Cryptography;
using System.Text;
using Drt.Overlay.Wire;
using NSec.Cryptography;

namespace Drt.Overlay.Security;

/// <summary>
/// An Ed25519 key pair: the identity of an instance (which owns the keys derived from it) or of a network's root (which
/// signs membership credentials). Dispose it when done: the private key lives in guarded native memory.
/// </summary>
/// <remarks>
/// Text form: PEM "PRIVATE KEY" (PKCS#8, as OpenSSL writes Ed25519 keys). Raw form: the 32-byte private seed.
/// <see cref="SaveAsync"/> writes the text form readable by the owner only (mode 0600 on Unix) and
/// <see cref="Load"/> refuses a file that group or others can read.
/// </remarks>
public sealed class DrtIdentity : IDisposable
{
    /// <summary>Bytes in a raw private key (the Ed25519 seed).</summary>
    public const int PrivateKeyLength = 32;

    /// <summary>Bytes in a public key.</summary>
    public const int PublicKeyLength = 32;

    // Bits that must be clear on a private key file: nobody but the owner may read, write or execute it.
    private const UnixFileMode NotOwner =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    private readonly Key _key;
    private readonly byte[] _publicKey;

    private DrtIdentity(Key key)
    {
        _key = key;
        _publicKey = key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
    }

    /// <summary>The 32-byte Ed25519 public key.</summary>
    public ReadOnlyMemory<byte> PublicKey => _publicKey;

    /// <summary>The public key as NSec sees it, for verification.</summary>
    internal NSec.Cryptography.PublicKey NSecPublicKey => _key.PublicKey;

    /// <summary>Creates a new identity from the operating system's random source.</summary>
    public static DrtIdentity Create()
    {
        // Exportable: an identity is saved to a file and read back (SaveAsync, ExportPem).
        KeyCreationParameters exportable = new() { ExportPolicy = KeyExportPolicies.AllowPlaintextExport };
        return new(Key.Create(SignatureAlgorithm.Ed25519, exportable));
    }

    /// <summary>An identity from its 32-byte private seed (as <see cref="ExportPrivateKey"/> gives it).</summary>
    /// <exception cref="DrtException">InvalidArgument: the seed is not 32 bytes.</exception>
    public static DrtIdentity FromPrivateKey(ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != PrivateKeyLength)
        {
            throw new DrtException(DrtError.InvalidArgument, $"A raw Ed25519 private key is {PrivateKeyLength} bytes; got {privateKey.Length}.");
        }

        KeyCreationParameters exportable = new() { ExportPolicy = KeyExportPolicies.AllowPlaintextExport };
        return new(Key.Import(SignatureAlgorithm.Ed25519, privateKey, KeyBlobFormat.RawPrivateKey, exportable));
    }

    /// <summary>An identity from PEM text ("-----BEGIN PRIVATE KEY-----", PKCS#8 Ed25519), as <see cref="ExportPem"/> writes it.</summary>
    /// <exception cref="DrtException">InvalidIdentity: the text is not a PEM PKCS#8 Ed25519 private key.</exception>
    public static DrtIdentity FromPem(string pem)
    {
        if (pem is null)
        {
            throw new DrtException(DrtError.InvalidArgument, "The PEM text is null.");
        }

        byte[] ascii = Encoding.ASCII.GetBytes(pem.Trim());
        try
        {
            KeyCreationParameters exportable = new() { ExportPolicy = KeyExportPolicies.AllowPlaintextExport };
            if (!Key.TryImport(SignatureAlgorithm.Ed25519, ascii, KeyBlobFormat.PkixPrivateKeyText, out Key? key, exportable) || key is null)
            {
                throw new DrtException(DrtError.InvalidIdentity, "The text is not an Ed25519 private key in PEM (\"-----BEGIN PRIVATE KEY-----\", PKCS#8); export one with DrtIdentity.ExportPem or 'openssl genpkey -algorithm ed25519'.");
            }

            return new DrtIdentity(key);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(ascii);
        }
    }

    /// <summary>
    /// Reads an identity file written by <see cref="SaveAsync"/> (or any PEM PKCS#8 Ed25519 key).
    /// </summary>
    /// <exception cref="DrtException">
    /// InvalidIdentity: the file cannot be read, is not an Ed25519 private key, or (on Unix) group or others may access
    /// it; the message says what to fix.
    /// </exception>
    public static DrtIdentity Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string text;
        try
        {
            if (!OperatingSystem.IsWindows())
            {
                // Checked before reading: a key others could read is already compromised, and silently using it
                // would hide that. The fix is the owner's to make.
                UnixFileMode mode = File.GetUnixFileMode(path);
                if ((mode & NotOwner) != 0)
                {
                    throw new DrtException(DrtError.InvalidIdentity, $"The identity file '{path}' is accessible by group or others (mode {FormatMode(mode)}); a private key must be readable by its owner only. Run 'chmod 600 {path}' (and consider the key exposed).");
                }
            }

            text = File.ReadAllText(path, Encoding.ASCII);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DrtException(DrtError.InvalidIdentity, $"The identity file '{path}' cannot be read: {e.Message}", e);
        }

        return FromPem(text);
    }

    /// <summary>
    /// Writes the identity to <paramref name="path"/> as PEM, readable and writable by the owner only (mode 0600 on
    /// Unix). It writes a temporary file in the same directory and renames it over <paramref name="path"/>, so the
    /// path holds either the old content or the whole new key, never a part.
    /// </summary>
    public async Task SaveAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full) ?? ".", $".{Path.GetFileName(full)}.{Convert.ToHexString(RandomNumberGenerator.GetBytes(6))}.tmp");
        byte[] pem = _key.Export(KeyBlobFormat.PkixPrivateKeyText);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            // Created with 0600 (the umask can only take bits away), so the key is never briefly readable by others.
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            await using (var stream = new FileStream(temp, options))
            {
                await stream.WriteAsync(pem, cancellationToken).ConfigureAwait(false);
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pem);
        }
    }

    /// <summary>The 32-byte private seed. Keep it secret; prefer <see cref="SaveAsync"/> for storage.</summary>
    public byte[] ExportPrivateKey() => _key.Export(KeyBlobFormat.RawPrivateKey);

    /// <summary>The private key as PEM text ("-----BEGIN PRIVATE KEY-----", PKCS#8). Keep it secret.</summary>
    public string ExportPem()
    {
        byte[] ascii = _key.Export(KeyBlobFormat.PkixPrivateKeyText);
        try
        {
            return Encoding.ASCII.GetString(ascii);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(ascii);
        }
    }

    /// <summary>
    /// The key this identity owns under <paramref name="classifier"/> (a short application string, at most 256 bytes
    /// of UTF-8; "" is allowed): SHA-256 of the domain tag "drt.overlay/key/v1", the public key and the classifier
    /// (docs/security.md).
    /// </summary>
    /// <exception cref="DrtException">InvalidArgument: the classifier is null or too long.</exception>
    public Key256 DeriveKey(string classifier) => KeyDerivation.Derive(_publicKey, classifier);

    /// <summary>Whether <paramref name="key"/> is the key this identity owns under <paramref name="classifier"/>.</summary>
    /// <exception cref="DrtException">InvalidArgument: the classifier is null or too long.</exception>
    public bool OwnsKey(Key256 key, string classifier) => DeriveKey(classifier) == key;

    /// <summary>Signs <paramref name="message"/> into the first 64 bytes of <paramref name="signature"/>.</summary>
    internal void Sign(ReadOnlySpan<byte> message, Span<byte> signature)
        => SignatureAlgorithm.Ed25519.Sign(_key, message, signature[..SignatureAlgorithm.Ed25519.SignatureSize]);

    /// <summary>Disposes the private key.</summary>
    public void Dispose() => _key.Dispose();

    private static string FormatMode(UnixFileMode mode) => Convert.ToString((int)mode & 0x1FF, 8).PadLeft(4, '0');
}
