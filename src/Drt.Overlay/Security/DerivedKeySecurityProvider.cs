using Drt.Overlay.Wire;
using NSec.Cryptography;

namespace Drt.Overlay.Security;

/// <summary>
/// The derived-key security provider (DrtCreateDerivedKeySecurityProvider, with Ed25519 in place of certificates):
/// an identity may publish exactly the keys derived from its public key (<see cref="DrtIdentity.DeriveKey"/>), records
/// and nonce proofs are Ed25519 signatures, and in Membership and Confidential modes every peer must present a
/// credential signed by the network's root key, and datagrams are protected by per-peer X25519 sessions.
/// </summary>
/// <remarks>The provider uses the identity but does not own it: dispose the identity after the instance.</remarks>
public sealed class DerivedKeySecurityProvider : ISecurityProvider
{
    private readonly DrtIdentity _identity;
    private readonly uint _networkId;
    private readonly byte[] _rootPublicKey;
    private readonly byte[] _credential;

    /// <summary>A provider for <paramref name="mode"/> Resolve: publishers prove key ownership, no membership.</summary>
    /// <exception cref="DrtException">InvalidSettings: the mode is None or needs a root key and a credential.</exception>
    public DerivedKeySecurityProvider(DrtSecurityMode mode, DrtIdentity identity, uint networkId)
        : this(mode, identity, networkId, ReadOnlyMemory<byte>.Empty, null)
    {
    }

    /// <summary>
    /// A provider for any secure mode; Membership and Confidential need the network's root public key and this
    /// identity's credential (issued by that root for <paramref name="networkId"/>).
    /// </summary>
    /// <exception cref="DrtException">
    /// InvalidSettings: the mode is None or unknown, or the root key or credential is missing in a membership mode.
    /// InvalidCredential: the credential is for another identity, root or network.
    /// </exception>
    public DerivedKeySecurityProvider(DrtSecurityMode mode, DrtIdentity identity, uint networkId, ReadOnlyMemory<byte> rootPublicKey, DrtCredential? credential)
    {
        ArgumentNullException.ThrowIfNull(identity);
        if (mode is not (DrtSecurityMode.Resolve or DrtSecurityMode.Membership or DrtSecurityMode.Confidential))
        {
            throw new DrtException(DrtError.InvalidSettings, $"DerivedKeySecurityProvider implements Resolve, Membership and Confidential; got {mode}. Use NullSecurityProvider for None.");
        }

        Mode = mode;
        _identity = identity;
        _networkId = networkId;
        _rootPublicKey = [];
        _credential = [];
        if (mode == DrtSecurityMode.Resolve)
        {
            return;
        }

        if (rootPublicKey.Length != DrtIdentity.PublicKeyLength || credential is null)
        {
            throw new DrtException(DrtError.InvalidSettings, $"Mode {mode} needs the network's 32-byte root public key and this identity's credential (DrtCredential.Issue by the root); got a {rootPublicKey.Length}-byte root key and {(credential is null ? "no" : "a")} credential.");
        }

        if (credential.NetworkId != networkId)
        {
            throw new DrtException(DrtError.InvalidCredential, $"The credential is for network {credential.NetworkId}, not {networkId}; ask the root for one for this network.");
        }

        if (!credential.RootPublicKey.Span.SequenceEqual(rootPublicKey.Span))
        {
            throw new DrtException(DrtError.InvalidCredential, "The credential was issued by another root key than the one given; use the network's root public key or a credential it issued.");
        }

        if (!credential.MemberPublicKey.Span.SequenceEqual(identity.PublicKey.Span))
        {
            throw new DrtException(DrtError.InvalidCredential, "The credential was issued to another public key than this identity's; ask the root for one for DrtIdentity.PublicKey.");
        }

        _rootPublicKey = rootPublicKey.ToArray();
        _credential = credential.ToBytes();
        CredentialNotAfter = credential.NotAfter;
    }

    /// <summary>The network id the provider was built for (checked against the instance's at open).</summary>
    internal uint NetworkId => _networkId;

    /// <summary>
    /// Until when the provider can vouch for this identity's records: the credential's not-after in membership modes,
    /// null (no limit of its own) in Resolve.
    /// </summary>
    internal DateTimeOffset? CredentialNotAfter { get; }

    /// <inheritdoc/>
    public DrtSecurityMode Mode { get; }

    /// <inheritdoc/>
    public ReadOnlyMemory<byte> PublicKey => _identity.PublicKey;

    /// <inheritdoc/>
    public int SignatureLength => SignatureAlgorithm.Ed25519.SignatureSize;

    /// <inheritdoc/>
    public ReadOnlyMemory<byte> LocalCredential => _credential;

    /// <inheritdoc/>
    public bool IsKeyAllowed(Key256 key, ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> classifier) => KeyDerivation.IsDerived(key, publicKey, classifier);

    /// <inheritdoc/>
    public void Sign(ReadOnlySpan<byte> message, Span<byte> signature) => _identity.Sign(message, signature);

    /// <inheritdoc/>
    public bool Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        // Importing allocates a small object; verification runs once per record version (cached), never per datagram.
        return signature.Length == SignatureAlgorithm.Ed25519.SignatureSize
            && NSec.Cryptography.PublicKey.TryImport(SignatureAlgorithm.Ed25519, publicKey, KeyBlobFormat.RawPublicKey, out NSec.Cryptography.PublicKey? key)
            && key is not null
            && SignatureAlgorithm.Ed25519.Verify(key, message, signature);
    }

    /// <inheritdoc/>
    public DrtCredentialStatus CheckCredential(ReadOnlySpan<byte> credential, ReadOnlySpan<byte> publicKey, DateTimeOffset now)
    {
        if (Mode == DrtSecurityMode.Resolve)
        {
            return DrtCredentialStatus.Valid;
        }

        // An empty public key would match any member; a peer always presents one.
        return publicKey.Length != DrtIdentity.PublicKeyLength
            ? DrtCredentialStatus.WrongMember
            : DrtCredential.Check(credential, _rootPublicKey, _networkId, now, publicKey);
    }

    /// <summary>
    /// The cheap part of <see cref="CheckCredential"/>: layout, network, root, member and validity, no signature. A
    /// responder asks it before it answers a hello from an unproven address with a cookie, so an outsider without a
    /// member's credential gets no answer at all.
    /// </summary>
    internal DrtCredentialStatus PrecheckCredential(ReadOnlySpan<byte> credential, ReadOnlySpan<byte> publicKey, DateTimeOffset now)
        => Mode == DrtSecurityMode.Resolve ? DrtCredentialStatus.Valid
            : publicKey.Length != DrtIdentity.PublicKeyLength ? DrtCredentialStatus.WrongMember
            : DrtCredential.Check(credential, _rootPublicKey, _networkId, now, publicKey, verifySignature: false);

    /// <inheritdoc/>
    public ISessionHandshake? BeginSession() => Mode switch
    {
        DrtSecurityMode.Membership or DrtSecurityMode.Confidential => new SessionHandshake(Mode, _networkId, _identity.PublicKey),
        _ => null,
    };
}
