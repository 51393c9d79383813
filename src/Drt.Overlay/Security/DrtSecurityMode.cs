namespace Drt.Overlay.Security;

/// <summary>
/// How much a network authenticates (DRT_SECURITY_MODE, plus DRT's implicit null mode). Every node of one network
/// uses the same mode; there is no negotiation.
/// </summary>
public enum DrtSecurityMode
{
    /// <summary>No authentication: keys are not tied to identities and records are not signed.</summary>
    None = 0,

    /// <summary>
    /// Publishers prove key ownership: each key is derived from its owner's public key, each record is signed, and a
    /// search's final answer signs the searcher's fresh nonce.
    /// </summary>
    Resolve = 1,

    /// <summary>
    /// Resolve, and every node proves membership with a credential signed by the network's root key; datagrams
    /// between members carry an authentication tag under per-peer session keys.
    /// </summary>
    Membership = 2,

    /// <summary>Membership, and datagram bodies are also encrypted under the session keys.</summary>
    Confidential = 3,
}
