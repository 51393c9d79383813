using System.Diagnostics.Metrics;
using Drt.Overlay.Engine;
using Drt.Overlay.Routing;
using Drt.Overlay.Transport;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay;

/// <summary>How a search the application started ended, as <see cref="DrtMetrics"/> counts it.</summary>
internal enum SearchMetricOutcome
{
    /// <summary>It ended by itself with at least one result.</summary>
    Found,

    /// <summary>It ended by itself with no result.</summary>
    NotFound,

    /// <summary>Its timeout passed first (it may have had results by then).</summary>
    TimedOut,

    /// <summary>The caller cancelled it or left its enumeration before it ended.</summary>
    Cancelled,

    /// <summary>It never started: too many searches were running.</summary>
    Busy,
}

/// <summary>
/// One instance's <see cref="System.Diagnostics.Metrics"/> instruments, under the meter <see cref="DrtInstance.MeterName"/>
/// (docs/metrics.md lists them). Observable instruments read the engine's counters and snapshot when a listener
/// collects, on the listener's thread: what they read is written by the engine thread alone and may be slightly stale,
/// never torn. The histograms are recorded once per search, on the engine thread, when it completes.
/// </summary>
/// <remarks>
/// Every instance has its own meter, so that closing it (<see cref="Dispose"/>) ends its instruments and listeners
/// stop hearing them. The meter carries the tag <c>drt.instance</c>, and so does every measurement: exporters that
/// keep only measurement tags (dotnet-counters, Prometheus) still tell two instances of one process apart.
/// </remarks>
internal sealed class DrtMetrics : IDisposable
{
    /// <summary>The tag that names the instance on the meter and on every measurement.</summary>
    public const string InstanceTag = "drt.instance";

    private static readonly MessageType[] s_types = AllTypes();
    private static readonly DecodeStatus[] s_statuses = Enum.GetValues<DecodeStatus>();
    private static readonly AdmissionDrop[] s_refusals = Enum.GetValues<AdmissionDrop>();
    private static readonly DrtStatus[] s_drtStatuses = Enum.GetValues<DrtStatus>();
    private static readonly SearchMetricOutcome[] s_outcomes = Enum.GetValues<SearchMetricOutcome>();

    private readonly Meter _meter;
    private readonly KeyValuePair<string, object?> _instance;
    private readonly Overlay.Engine.Engine _engine;
    private readonly UdpTransportCounters? _transport;
    private readonly Func<int> _registrations;
    private readonly long[] _searches = new long[s_outcomes.Length];
    private readonly Histogram<int> _hops;
    private readonly Histogram<double> _searchDuration;
    private readonly Histogram<double> _hopRtt;

    /// <summary>Creates the meter of instance <paramref name="instanceName"/> and its instruments.</summary>
    /// <param name="instanceName">The instance's name: the <c>drt.instance</c> tag.</param>
    /// <param name="engine">Whose counters, snapshot and status the observable instruments read.</param>
    /// <param name="transport">The socket's counters (datagrams dropped before the engine saw them).</param>
    /// <param name="registrations">How many keys the application has registered (any thread).</param>
    public DrtMetrics(string instanceName, Overlay.Engine.Engine engine, UdpTransportCounters? transport, Func<int> registrations)
    {
        _instance = new KeyValuePair<string, object?>(InstanceTag, instanceName);
        _engine = engine;
        _transport = transport;
        _registrations = registrations;
        _meter = new Meter(new MeterOptions(DrtInstance.MeterName)
        {
            Version = typeof(DrtMetrics).Assembly.GetName().Version?.ToString(),
            Tags = [_instance],
        });

        _meter.CreateObservableCounter<long>("drt.datagrams.received", ObserveReceived, "{datagram}", "Datagrams received, by message type (message_type unknown: the header did not decode).");
        _meter.CreateObservableCounter<long>("drt.bytes.received", ObserveReceivedBytes, "By", "Bytes in the datagrams received, by message type.");
        _meter.CreateObservableCounter<long>("drt.datagrams.sent", ObserveSent, "{datagram}", "Datagrams sent, by message type (a fragmented message counts as its fragments).");
        _meter.CreateObservableCounter<long>("drt.bytes.sent", ObserveSentBytes, "By", "Bytes in the datagrams sent, by message type.");
        _meter.CreateObservableCounter<long>("drt.datagrams.dropped", ObserveDropped, "{datagram}", "Datagrams received and thrown away, by reason.");
        _meter.CreateObservableCounter<long>("drt.searches", ObserveSearches, "{search}", "Searches the application started, by outcome, counted when they end.");
        _meter.CreateObservableUpDownCounter<int>("drt.leafset.size", ObserveLeafSet, "{key}", "Leaf-set members of every registered key, both sides, summed over the keys.");
        _meter.CreateObservableUpDownCounter<int>("drt.routing_table.entries", ObserveRoutingEntries, "{entry}", "Routing-table entries of every registered key, summed over the keys.");
        _meter.CreateObservableUpDownCounter<int>("drt.registrations", ObserveRegistrations, "{key}", "Keys the application has registered.");
        _meter.CreateObservableGauge<int>("drt.status", ObserveStatus, "1", "1 for the instance's status (tag status), 0 for the others.");

        _hops = _meter.CreateHistogram<int>(
            "drt.search.hops",
            "{hop}",
            "Overlay hops to the owner of the best result of each search that found one (0: a local key).",
            tags: null,
            new InstrumentAdvice<int> { HistogramBucketBoundaries = [0, 1, 2, 3, 4, 5, 6, 8, 10, 14, IterativeLookup.DefaultMaxUsefulHops] });
        _searchDuration = _meter.CreateHistogram<double>(
            "drt.search.duration",
            "s",
            "How long each search took, from start to end, by outcome.",
            tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        _hopRtt = _meter.CreateHistogram<double>(
            "drt.search.hop.rtt",
            "s",
            "Round-trip time of each answer a search got from a node on its path.",
            tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] });
    }

    /// <summary>
    /// Counts a search that ended (engine thread; once per search). <paramref name="hops"/> is the best result's, when
    /// there is one; <paramref name="path"/> gives the RTT of every answer.
    /// </summary>
    public void SearchEnded(SearchMetricOutcome outcome, int? hops, long durationMicros, IReadOnlyList<LookupHop> path)
    {
        Interlocked.Increment(ref _searches[(int)outcome]);
        if (outcome == SearchMetricOutcome.Busy)
        {
            return; // nothing ran: no duration, no path
        }

        if (hops is int h && outcome == SearchMetricOutcome.Found)
        {
            _hops.Record(h, _instance);
        }

        _searchDuration.Record(durationMicros / 1e6, _instance, new KeyValuePair<string, object?>("outcome", NameOf(outcome)));
        for (int i = 0; i < path.Count; i++)
        {
            if (path[i].RttMicros > 0)
            {
                _hopRtt.Record(path[i].RttMicros / 1e6, _instance);
            }
        }
    }

    /// <summary>Ends the meter: its instruments stop reporting, and listeners hear that they are gone.</summary>
    public void Dispose() => _meter.Dispose();

    /// <summary>The stable tag value of <paramref name="type"/>: lower_snake_case, never renamed.</summary>
    internal static string NameOf(MessageType type) => type switch
    {
        EngineCounters.NoHeader => "unknown",
        MessageType.Ping => "ping",
        MessageType.Pong => "pong",
        MessageType.Solicit => "solicit",
        MessageType.Advertise => "advertise",
        MessageType.Request => "request",
        MessageType.Ack => "ack",
        MessageType.Lookup => "lookup",
        MessageType.LookupReply => "lookup_reply",
        MessageType.Inquire => "inquire",
        MessageType.Authority => "authority",
        MessageType.Route => "route",
        MessageType.RouteAck => "route_ack",
        MessageType.Flood => "flood",
        MessageType.LeafSetRequest => "leaf_set_request",
        MessageType.LeafSetReply => "leaf_set_reply",
        MessageType.Error => "error",
        MessageType.Fragment => "fragment",
        MessageType.Hello => "hello",
        MessageType.HelloReply => "hello_reply",
        MessageType.HelloCookie => "hello_cookie",
        _ => "unknown",
    };

    /// <summary>The stable <c>reason</c> of a datagram the admission stage refused for <paramref name="reason"/>.</summary>
    internal static string NameOf(AdmissionDrop reason) => reason switch
    {
        AdmissionDrop.None => "none",
        AdmissionDrop.Oversized => "oversized",
        AdmissionDrop.UnspecifiedSource => "unspecified_source",
        AdmissionDrop.BroadcastSource => "broadcast_source",
        AdmissionDrop.MulticastSource => "multicast_source",
        AdmissionDrop.ZeroPort => "zero_port",
        AdmissionDrop.PrivilegedPort => "privileged_port",
        AdmissionDrop.SourceRateLimited => "source_rate_limited",
        AdmissionDrop.GlobalRateLimited => "global_rate_limited",
        AdmissionDrop.HandshakeRateLimited => "handshake_rate_limited",
        _ => "other",
    };

    /// <summary>The stable <c>reason</c> of a datagram dropped for failing to decode with <paramref name="status"/>.</summary>
    internal static string NameOf(DecodeStatus status) => status switch
    {
        DecodeStatus.Ok => "ok",
        DecodeStatus.Truncated => "truncated",
        DecodeStatus.Malformed => "malformed",
        DecodeStatus.TooLarge => "too_large",
        DecodeStatus.BadMagic => "bad_magic",
        DecodeStatus.UnsupportedVersion => "unsupported_version",
        DecodeStatus.WrongNetwork => "wrong_network",
        DecodeStatus.IncompatibleApplication => "incompatible_application",
        DecodeStatus.UnknownType => "unknown_type",
        DecodeStatus.WrongType => "wrong_type",
        DecodeStatus.WrongSecurityMode => "wrong_security_mode",
        _ => "other",
    };

    /// <summary>The stable <c>status</c> tag of <paramref name="status"/>.</summary>
    internal static string NameOf(DrtStatus status) => status switch
    {
        DrtStatus.Active => "active",
        DrtStatus.Alone => "alone",
        DrtStatus.NoNetwork => "no_network",
        DrtStatus.Faulted => "faulted",
        _ => "unknown",
    };

    /// <summary>The stable <c>outcome</c> tag of <paramref name="outcome"/>.</summary>
    internal static string NameOf(SearchMetricOutcome outcome) => outcome switch
    {
        SearchMetricOutcome.Found => "found",
        SearchMetricOutcome.NotFound => "not_found",
        SearchMetricOutcome.TimedOut => "timed_out",
        SearchMetricOutcome.Cancelled => "cancelled",
        SearchMetricOutcome.Busy => "busy",
        _ => "unknown",
    };

    private static MessageType[] AllTypes()
    {
        var types = new MessageType[(int)MessageTypes.Last + 1];
        for (int i = 0; i < types.Length; i++)
        {
            types[i] = (MessageType)i; // slot 0 is EngineCounters.NoHeader
        }

        return types;
    }

    // The observers run when a listener collects (dotnet-counters every second or so, an OpenTelemetry reader at its
    // export interval), off the hot path: the lists they build are the collector's garbage, not the engine's. Series
    // whose count is still 0 are left out; a count never goes back to 0, so a series once seen stays.

    private List<Measurement<long>> ObserveReceived() => ByType(_engine.Counters.ReceivedOf);

    private List<Measurement<long>> ObserveReceivedBytes() => ByType(_engine.Counters.ReceivedBytesOf);

    private List<Measurement<long>> ObserveSent() => ByType(_engine.Counters.SentOf);

    private List<Measurement<long>> ObserveSentBytes() => ByType(_engine.Counters.SentBytesOf);

    private List<Measurement<long>> ByType(Func<MessageType, long> count)
    {
        var measurements = new List<Measurement<long>>();
        foreach (MessageType type in s_types)
        {
            long n = count(type);
            if (n > 0)
            {
                measurements.Add(new Measurement<long>(n, _instance, new KeyValuePair<string, object?>("message_type", NameOf(type))));
            }
        }

        return measurements;
    }

    private List<Measurement<long>> ObserveDropped()
    {
        var measurements = new List<Measurement<long>>();
        foreach (DecodeStatus status in s_statuses)
        {
            if (status != DecodeStatus.Ok)
            {
                AddDrop(measurements, _engine.Counters.Dropped(status), NameOf(status));
            }
        }

        // The admission stage's refusals (source sanity, rate limits), before any body was read.
        foreach (AdmissionDrop reason in s_refusals)
        {
            if (reason != AdmissionDrop.None)
            {
                AddDrop(measurements, _engine.Counters.Refused(reason), NameOf(reason));
            }
        }

        // Answers nobody waits for any more (late, duplicated, or forged), decoded and then ignored.
        AddDrop(measurements, _engine.Counters.Unsolicited, "unsolicited");

        // The socket's own drops: the engine never saw these.
        if (_transport is { } socket) // a UDP transport's own drops; a custom transport counts its own
        {
            AddDrop(measurements, socket.Oversized, "oversized_datagram");
            AddDrop(measurements, socket.EmptyDatagrams, "empty_datagram");
        }
        return measurements;
    }

    private void AddDrop(List<Measurement<long>> measurements, long count, string reason)
    {
        if (count > 0)
        {
            measurements.Add(new Measurement<long>(count, _instance, new KeyValuePair<string, object?>("reason", reason)));
        }
    }

    private List<Measurement<long>> ObserveSearches()
    {
        var measurements = new List<Measurement<long>>();
        foreach (SearchMetricOutcome outcome in s_outcomes)
        {
            long n = Volatile.Read(ref _searches[(int)outcome]);
            if (n > 0)
            {
                measurements.Add(new Measurement<long>(n, _instance, new KeyValuePair<string, object?>("outcome", NameOf(outcome))));
            }
        }

        return measurements;
    }

    private Measurement<int> ObserveLeafSet() => new(_engine.Snapshot.LeafSetMembers, _instance);

    private Measurement<int> ObserveRoutingEntries() => new(_engine.Snapshot.RoutingEntries, _instance);

    private Measurement<int> ObserveRegistrations() => new(_registrations(), _instance);

    private List<Measurement<int>> ObserveStatus()
    {
        // The OpenTelemetry pattern for a state: one series per status, 1 for the current one. The engine's status is a
        // single enum field, safe to read from any thread (slightly stale at worst).
        DrtStatus current = DrtInstance.StatusOf(_engine.Status);
        var measurements = new List<Measurement<int>>(s_drtStatuses.Length);
        foreach (DrtStatus status in s_drtStatuses)
        {
            measurements.Add(new Measurement<int>(status == current ? 1 : 0, _instance, new KeyValuePair<string, object?>("status", NameOf(status))));
        }

        return measurements;
    }
}
