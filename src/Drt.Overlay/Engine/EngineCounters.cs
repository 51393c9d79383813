using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Engine;

/// <summary>
/// What the engine saw and did, for metrics and tests. Written only on the engine's thread; readers on other
/// threads see slightly stale values, which is fine for counters.
/// </summary>
/// <remarks>
/// The per-type counts are plain arrays indexed by <see cref="MessageType"/>, bumped with a plain increment: the hot
/// path pays two array writes per datagram and allocates nothing. A 64-bit read of one element never tears, so a
/// reader elsewhere (the meter) gets a value at most a few datagrams old.
/// </remarks>
internal sealed class EngineCounters
{
    /// <summary>
    /// The slot of datagrams whose header did not decode: their type is unknown. No message type is 0, so the slot is
    /// free, and the per-type received counts add up to every datagram the engine looked at.
    /// </summary>
    public const MessageType NoHeader = 0;

    private const int TypeSlots = (int)MessageTypes.Last + 1;

    private readonly long[] _dropped = new long[Enum.GetValues<DecodeStatus>().Length];
    private readonly long[] _refused = new long[Enum.GetValues<AdmissionDrop>().Length];
    private readonly long[] _receivedByType = new long[TypeSlots];
    private readonly long[] _receivedBytesByType = new long[TypeSlots];
    private readonly long[] _sentByType = new long[TypeSlots];
    private readonly long[] _sentBytesByType = new long[TypeSlots];

    /// <summary>Datagrams handed to the engine.</summary>
    public long Received { get; set; }

    /// <summary>Datagrams sent.</summary>
    public long Sent { get; set; }

    /// <summary>Bytes sent.</summary>
    public long SentBytes { get; set; }

    /// <summary>Datagrams the transport refused (closed, too large, socket error).</summary>
    public long SendFailures { get; set; }

    /// <summary>Answers that matched no pending request or came from the wrong peer.</summary>
    public long Unsolicited { get; set; }

    /// <summary>Requests that timed out (each transmission counts).</summary>
    public long Timeouts { get; set; }

    /// <summary>Peers declared dead: a verification or leaf-set request went unanswered after every retry.</summary>
    public long DeclaredDead { get; set; }

    /// <summary>Split checks started: searches for a local key from outside this instance's own view.</summary>
    public long SplitChecks { get; set; }

    /// <summary>Split checks that found keys belonging in a leaf set that it lacked (a merge began).</summary>
    public long SplitsFound { get; set; }

    /// <summary>Candidates not verified because the verification table was full (offered again next round).</summary>
    public long VerificationsDropped { get; set; }

    /// <summary>Joining keys that stopped waiting for confirmations after every round (members silent but not yet dead).</summary>
    public long ConfirmTimeouts { get; set; }

    /// <summary>Routed messages this instance originated.</summary>
    public long RoutesOriginated { get; set; }

    /// <summary>Route transmissions to a next hop, retransmissions included.</summary>
    public long RoutesForwarded { get; set; }

    /// <summary>Route transmissions that went to an alternative or repeated hop after a timeout or refusal.</summary>
    public long RouteRetransmits { get; set; }

    /// <summary>Routed messages delivered here, as their root.</summary>
    public long RoutesDelivered { get; set; }

    /// <summary>Copies of a routed message already taken here (acknowledged again, not forwarded or delivered twice).</summary>
    public long RoutesDuplicate { get; set; }

    /// <summary>Routed messages lost here: no next hop answered and this is not the root.</summary>
    public long RoutesFailed { get; set; }

    /// <summary>Routed messages refused because too many were in flight (answered Busy, or refused to the caller).</summary>
    public long RoutesBusy { get; set; }

    /// <summary>Routed messages refused to the local caller: payload too large or no room.</summary>
    public long RoutesRefused { get; set; }

    /// <summary>Routed messages whose TTL ran out here or at the next hop.</summary>
    public long RoutesTtlExpired { get; set; }

    /// <summary>Routed messages the forward hook took and stopped.</summary>
    public long RoutesStopped { get; set; }

    /// <summary>Messages too large for one datagram, sent as fragments.</summary>
    public long FragmentedSends { get; set; }

    /// <summary>Maintenance datagrams sent (probes, leaf-set exchanges, refreshes).</summary>
    public long MaintenanceSent { get; set; }

    /// <summary>Maintenance bytes sent.</summary>
    public long MaintenanceBytes { get; set; }

    /// <summary>Datagrams dropped because they failed to decode, by status.</summary>
    public long Dropped(DecodeStatus status) => _dropped[(int)status];

    /// <summary>All datagrams dropped for failing to decode.</summary>
    public long DroppedTotal
    {
        get
        {
            long total = 0;
            foreach (long n in _dropped)
            {
                total += n;
            }

            return total;
        }
    }

    /// <summary>Counts a datagram dropped with <paramref name="status"/>.</summary>
    public void Drop(DecodeStatus status) => _dropped[(int)status]++;

    /// <summary>Datagrams refused by the admission checks (size, source, rate limits) for <paramref name="reason"/>.</summary>
    public long Refused(AdmissionDrop reason) => Volatile.Read(ref _refused[(int)reason]);

    /// <summary>All datagrams refused by the admission checks.</summary>
    public long RefusedTotal
    {
        get
        {
            long total = 0;
            foreach (long n in _refused)
            {
                total += n;
            }

            return total;
        }
    }

    /// <summary>Counts a datagram refused for <paramref name="reason"/>.</summary>
    public void Refuse(AdmissionDrop reason) => _refused[(int)reason]++;

    /// <summary>
    /// Answers to addresses that have not proved return routability that would have been larger than the request:
    /// cut to fit, replaced by an error, or not sent (anti-amplification).
    /// </summary>
    public long AmplificationLimited { get; set; }

    /// <summary>Sources whose rate bucket was taken over by a new source (the table was full in that set).</summary>
    public long RateLimiterEvictions { get; set; }

    /// <summary>
    /// Datagrams received whose header said <paramref name="type"/> (<see cref="NoHeader"/>: whose header did not
    /// decode). Fragments count as <see cref="MessageType.Fragment"/>; the message they reassemble into is not counted
    /// again.
    /// </summary>
    public long ReceivedOf(MessageType type) => Volatile.Read(ref _receivedByType[(int)type]);

    /// <summary>Bytes in <see cref="ReceivedOf"/>.</summary>
    public long ReceivedBytesOf(MessageType type) => Volatile.Read(ref _receivedBytesByType[(int)type]);

    /// <summary>Datagrams of <paramref name="type"/> the transport took (a fragmented message counts as its fragments).</summary>
    public long SentOf(MessageType type) => Volatile.Read(ref _sentByType[(int)type]);

    /// <summary>Bytes in <see cref="SentOf"/>.</summary>
    public long SentBytesOf(MessageType type) => Volatile.Read(ref _sentBytesByType[(int)type]);

    /// <summary>Counts a received datagram of <paramref name="type"/> (a defined type or <see cref="NoHeader"/>).</summary>
    public void CountReceived(MessageType type, int bytes)
    {
        _receivedByType[(int)type]++;
        _receivedBytesByType[(int)type] += bytes;
    }

    /// <summary>Counts a sent datagram of <paramref name="type"/>.</summary>
    public void CountSent(MessageType type, int bytes)
    {
        _sentByType[(int)type]++;
        _sentBytesByType[(int)type] += bytes;
    }
}
