namespace Drt.Overlay.Wire.Protocol;

/// <summary>The message types of the wire protocol; see docs/protocol.md for who sends each and what answers it.</summary>
/// <remarks>Values are on the wire: never renumber, only append.</remarks>
internal enum MessageType : byte
{
    /// <summary>Liveness probe; answered by <see cref="Pong"/>.</summary>
    Ping = 1,

    /// <summary>Answer to <see cref="Ping"/>: echoes the sender's timestamp (RTT) and reports the observed source.</summary>
    Pong = 2,

    /// <summary>Join step 1: a joiner commits to a nonce by its hash; answered by <see cref="Advertise"/>.</summary>
    Solicit = 3,

    /// <summary>Join step 2: the known node echoes the nonce hash and offers a few keys.</summary>
    Advertise = 4,

    /// <summary>Join step 3: the joiner reveals the nonce (return routability proved) and asks for entries.</summary>
    Request = 5,

    /// <summary>Acknowledges a <see cref="Request"/> or a <see cref="Flood"/>.</summary>
    Ack = 6,

    /// <summary>An iterative-search hop: "what do you know about this target?"; answered by <see cref="LookupReply"/>.</summary>
    Lookup = 7,

    /// <summary>Answer to <see cref="Lookup"/>: closer entries, or the covering node's nearest keys, with L/B/N flags.</summary>
    LookupReply = 8,

    /// <summary>Asks a node to prove it owns a key, with the asker's fresh nonce; answered by <see cref="Authority"/>.</summary>
    Inquire = 9,

    /// <summary>Answer to <see cref="Inquire"/>: the echoed nonce and, when asked, the signed registration record.</summary>
    Authority = 10,

    /// <summary>Recursive routing: a payload forwarded hop by hop towards the root of a key.</summary>
    Route = 11,

    /// <summary>Per-hop acknowledgement of a <see cref="Route"/>.</summary>
    RouteAck = 12,

    /// <summary>Spreads a publication, revocation or leaf-set change to leaf-set neighbours.</summary>
    Flood = 13,

    /// <summary>Asks a node for the leaf set of one of its keys (probe and repair); answered by <see cref="LeafSetReply"/>.</summary>
    LeafSetRequest = 14,

    /// <summary>Answer to <see cref="LeafSetRequest"/>: both sides of the leaf set.</summary>
    LeafSetReply = 15,

    /// <summary>A request was refused: busy, rate limited, not supported, too large.</summary>
    Error = 16,

    /// <summary>One piece of a datagram too large for one datagram (see docs/protocol.md, Fragments).</summary>
    Fragment = 17,

    /// <summary>
    /// Session handshake step 1 (Membership, Confidential): credential, identity key, ephemeral key and proof; sent in
    /// clear before anything else to a peer without a session; answered by <see cref="HelloReply"/>.
    /// </summary>
    Hello = 18,

    /// <summary>Session handshake step 2: the responder's credential, identity key, ephemeral key and proof.</summary>
    HelloReply = 19,

    /// <summary>
    /// Session handshake, before step 2 when the initiator's address is not proven: a cookie for the initiator to send
    /// its hello again with (return routability before any state or cryptography).
    /// </summary>
    HelloCookie = 20,
}

/// <summary>Facts about <see cref="MessageType"/> values.</summary>
internal static class MessageTypes
{
    /// <summary>The largest defined type; anything above is <see cref="DecodeStatus.UnknownType"/>.</summary>
    public const MessageType Last = MessageType.HelloCookie;

    /// <summary>Whether <paramref name="type"/> is a type this version knows.</summary>
    public static bool IsDefined(MessageType type) => type is >= MessageType.Ping and <= Last;
}
