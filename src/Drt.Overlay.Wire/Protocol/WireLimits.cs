namespace Drt.Overlay.Wire.Protocol;

/// <summary>
/// Caps on every count and length the decoders accept. A decoder checks each count against these caps and
/// against the bytes remaining before it uses the count, so no datagram can make a node allocate or loop
/// beyond them.
/// </summary>
internal static class WireLimits
{
    /// <summary>Default largest datagram: the IPv6 minimum MTU (1,280) minus the IPv6 and UDP headers.</summary>
    public const int DefaultMaxDatagram = 1232;

    /// <summary>Largest message that may travel as fragments, as DRT's cap on an AUTHORITY (0x91E4).</summary>
    public const int MaxReassembledMessage = 37_348;

    /// <summary>Most application data in one registration (DRT_MAX_PAYLOAD_SIZE).</summary>
    public const int MaxAppData = 5120;

    /// <summary>Most endpoints in one registration record (DRT_MAX_ROUTING_ADDRESSES).</summary>
    public const int MaxRecordEndpoints = 20;

    /// <summary>Longest classifier (the application's name for one of an identity's keys).</summary>
    public const int MaxClassifier = 256;

    /// <summary>Most nodes recorded on a search path or an already-flooded list (DRT caps useful hops at 22).</summary>
    public const int MaxPath = 22;

    /// <summary>Most route entries in one lookup reply: 20 IPv6 entries still fit one default datagram.</summary>
    public const int MaxReplyEntries = 20;

    /// <summary>Most entries on one side of a leaf set on the wire (leaf sets hold 5..16 per side).</summary>
    public const int MaxLeafSetSide = 16;

    /// <summary>Most keys offered in an advertise or asked for in a request.</summary>
    public const int MaxJoinKeys = 8;

    /// <summary>Most payload bytes in one routed message (what is left of a datagram after the route fields).</summary>
    public const int MaxRoutePayload = 1024;

    /// <summary>Length of a nonce (DRT's INQUIRE nonce is 16 bytes).</summary>
    public const int NonceLength = 16;

    /// <summary>Length of a nonce commitment: SHA-256 of the nonce.</summary>
    public const int NonceHashLength = 32;

    /// <summary>Length of an Ed25519 public key.</summary>
    public const int PublicKeyLength = 32;

    /// <summary>Length of an Ed25519 signature.</summary>
    public const int SignatureLength = 64;

    /// <summary>Length of an X25519 public key: a record's exchange key, an inquire's searcher key.</summary>
    public const int ExchangeKeyLength = 32;

    /// <summary>Length of a MAC nonce proof (BLAKE2b-128 under the searcher's and owner's pair key).</summary>
    public const int MacProofLength = 16;

    /// <summary>Most padding a solicit carries (see <see cref="Solicit"/>: it pays for its answer in advance).</summary>
    public const int MaxPadding = 512;

    /// <summary>
    /// Longest membership credential in a hello (a <c>DrtCredential</c> is at most 218 bytes; the rest is room for a
    /// custom provider's).
    /// </summary>
    public const int MaxCredential = 512;

    /// <summary>Length of an X25519 ephemeral public key.</summary>
    public const int EphemeralKeyLength = 32;

    /// <summary>Most padding a hello carries (it pays for a reply whose credential label is longer).</summary>
    public const int MaxHelloPadding = 64;

    /// <summary>Length of a hello cookie (a BLAKE2b-128 MAC of the initiator's address and a time slot).</summary>
    public const int CookieLength = 16;

    /// <summary>Most bytes of a fragment's chunk.</summary>
    public const int MaxFragmentChunk = DefaultMaxDatagram;
}
