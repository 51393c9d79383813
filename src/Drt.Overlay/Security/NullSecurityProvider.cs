using Drt.Overlay.Wire;

namespace Drt.Overlay.Security;

/// <summary>
/// Security mode None (DrtCreateNullSecurityProvider): keys are not tied to identities, nothing is signed, every
/// record, signature and credential is accepted, and datagrams are not protected. For closed test networks.
/// </summary>
public sealed class NullSecurityProvider : ISecurityProvider
{
    private NullSecurityProvider()
    {
    }

    /// <summary>The one instance (the provider has no state).</summary>
    public static NullSecurityProvider Instance { get; } = new();

    /// <inheritdoc/>
    public DrtSecurityMode Mode => DrtSecurityMode.None;

    /// <inheritdoc/>
    public ReadOnlyMemory<byte> PublicKey => ReadOnlyMemory<byte>.Empty;

    /// <inheritdoc/>
    public int SignatureLength => 0;

    /// <inheritdoc/>
    public ReadOnlyMemory<byte> LocalCredential => ReadOnlyMemory<byte>.Empty;

    /// <inheritdoc/>
    public bool IsKeyAllowed(Key256 key, ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> classifier) => true;

    /// <inheritdoc/>
    public void Sign(ReadOnlySpan<byte> message, Span<byte> signature)
    {
        // Nothing to sign: SignatureLength is 0.
    }

    /// <inheritdoc/>
    public bool Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature) => true;

    /// <inheritdoc/>
    public DrtCredentialStatus CheckCredential(ReadOnlySpan<byte> credential, ReadOnlySpan<byte> publicKey, DateTimeOffset now) => DrtCredentialStatus.Valid;

    /// <inheritdoc/>
    public ISessionHandshake? BeginSession() => null;
}
