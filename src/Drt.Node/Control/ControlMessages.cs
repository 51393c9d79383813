using MessagePack;

namespace Drt.Node.Control;

/// <summary>
/// One request to a running node over its control socket: a MessagePack map, keyed by property name, in one frame.
/// <see cref="Op"/> names the operation; the other fields are its arguments (keys as 64 hex digits).
/// </summary>
[MessagePackObject(keyAsPropertyName: true)]
internal sealed class ControlRequest
{
    /// <summary>register, update, unregister, search, status or route.</summary>
    public string Op { get; set; } = "";

    /// <summary>The key registered, updated, unregistered, searched for, or routed to.</summary>
    public string? Key { get; set; }

    /// <summary>register in a secure mode: the classifier the key derives from, instead of <see cref="Key"/>.</summary>
    public string? Classifier { get; set; }

    /// <summary>App data (register, update) or the routed payload.</summary>
    public byte[]? Data { get; set; }

    /// <summary>Search: the range's low end, or null.</summary>
    public string? Min { get; set; }

    /// <summary>Search: the range's high end, or null.</summary>
    public string? Max { get; set; }

    /// <summary>Search: nearest rather than exact (over the whole ring when no range is given).</summary>
    public bool Nearest { get; set; }

    /// <summary>Search: how many results.</summary>
    public int MaxResults { get; set; } = 1;

    /// <summary>Search: any key in the range will do.</summary>
    public bool AnyInRange { get; set; }

    /// <summary>Search: the node's own keys may be results.</summary>
    public bool IncludeLocal { get; set; }

    /// <summary>Search: one hop at a time, each hop reported (the node continues to the end).</summary>
    public bool Iterative { get; set; }

    /// <summary>Search: its timeout in milliseconds (0: the default).</summary>
    public int TimeoutMs { get; set; }
}

/// <summary>The node's answer to one <see cref="ControlRequest"/>.</summary>
[MessagePackObject(keyAsPropertyName: true)]
internal sealed class ControlResponse
{
    /// <summary>Whether the operation succeeded; otherwise <see cref="ErrorCode"/> and <see cref="Error"/> say why.</summary>
    public bool Ok { get; set; }

    /// <summary>DRT's error name (DuplicateKey, InvalidSearchRange, ...) or BadRequest / BadFrame.</summary>
    public string? ErrorCode { get; set; }

    /// <summary>What was wrong and what is allowed.</summary>
    public string? Error { get; set; }

    /// <summary>register: the key registered.</summary>
    public string? Key { get; set; }

    /// <summary>search: the results, nearest first (and each hop of an iterative search before them).</summary>
    public List<ControlSearchResult>? Results { get; set; }

    /// <summary>search: it ran out of time.</summary>
    public bool TimedOut { get; set; }

    /// <summary>status: the node's state.</summary>
    public ControlStatus? Status { get; set; }

    /// <summary>route: how the message left the node (delivered, forwarded, unreachable).</summary>
    public string? Outcome { get; set; }

    /// <summary>A failed response.</summary>
    public static ControlResponse Failure(string code, string message) => new() { Ok = false, ErrorCode = code, Error = message };
}

/// <summary>One search result as the control socket carries it.</summary>
[MessagePackObject(keyAsPropertyName: true)]
internal sealed class ControlSearchResult
{
    /// <summary>exact, near or intermediate.</summary>
    public string Match { get; set; } = "";

    /// <summary>The key, 64 hex digits.</summary>
    public string Key { get; set; } = "";

    /// <summary>Its app data.</summary>
    public byte[] Data { get; set; } = [];

    /// <summary>Its owner's endpoints, host:port.</summary>
    public List<string> Endpoints { get; set; } = [];

    /// <summary>Overlay hops to the owner.</summary>
    public int Hops { get; set; }
}

/// <summary>A node's status as the control socket carries it.</summary>
[MessagePackObject(keyAsPropertyName: true)]
internal sealed class ControlStatus
{
    /// <summary>active, alone, no_network or faulted.</summary>
    public string State { get; set; } = "";

    /// <summary>The instance name.</summary>
    public string Name { get; set; } = "";

    /// <summary>Where it receives, host:port.</summary>
    public List<string> Endpoints { get; set; } = [];

    /// <summary>Its registrations with their leaf sets.</summary>
    public List<ControlRegistration> Registrations { get; set; } = [];

    /// <summary>Routing-table entries over all its keys.</summary>
    public int RoutingEntries { get; set; }

    /// <summary>Peers it knows an address for.</summary>
    public int KnownPeers { get; set; }

    /// <summary>Estimated keys in the ring.</summary>
    public double EstimatedNetworkSize { get; set; }
}

/// <summary>One registration and its leaf set.</summary>
[MessagePackObject(keyAsPropertyName: true)]
internal sealed class ControlRegistration
{
    /// <summary>The key.</summary>
    public string Key { get; set; } = "";

    /// <summary>Leaf-set keys below it, nearest first.</summary>
    public List<string> Smaller { get; set; } = [];

    /// <summary>Leaf-set keys above it, nearest first.</summary>
    public List<string> Larger { get; set; } = [];
}
