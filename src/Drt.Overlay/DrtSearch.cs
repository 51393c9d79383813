using System.Net;
using System.Threading.Channels;
using Drt.Overlay.Engine;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay;

/// <summary>How a search result matched (DRT_MATCH_TYPE).</summary>
public enum DrtMatch
{
    /// <summary>The key searched for (or, with <see cref="DrtSearchOptions.AnyMatchInRange"/>, a key in the range).</summary>
    Exact,

    /// <summary>The registered key nearest the target within the range.</summary>
    Near,

    /// <summary>A node an iterative search reached on its way (a hop, not a result): no app data.</summary>
    Intermediate,
}

/// <summary>What happened at one node a search contacted (DRT_ADDRESS_FLAGS).</summary>
[Flags]
public enum DrtHopOutcome
{
    /// <summary>Contacted; no answer recorded yet.</summary>
    None = 0,

    /// <summary>It answered and its answer was used.</summary>
    Accepted = 0x01,

    /// <summary>It answered, but the answer was not used.</summary>
    Rejected = 0x02,

    /// <summary>No answer after the retries.</summary>
    Unreachable = 0x04,

    /// <summary>It referred the search to a node already on the path.</summary>
    Loop = 0x08,

    /// <summary>It said it was too busy.</summary>
    TooBusy = 0x10,

    /// <summary>It no longer holds the key it was contacted for.</summary>
    BadValidateId = 0x20,

    /// <summary>Its answer looked wrong, so it was not used; such nodes count towards the search's cap on suspicious answers.</summary>
    SuspectUnregisteredId = 0x40,

    /// <summary>It was asked to prove that it owns a result.</summary>
    Inquire = 0x80,
}

/// <summary>One node a search contacted (an entry of DRT's search path).</summary>
/// <param name="Endpoint">Where the node receives.</param>
/// <param name="Key">The key it was contacted for.</param>
/// <param name="Outcome">What happened there.</param>
/// <param name="RoundTripTime">How long its answer took; null when it did not answer.</param>
public sealed record DrtPathHop(IPEndPoint Endpoint, Key256 Key, DrtHopOutcome Outcome, TimeSpan? RoundTripTime);

/// <summary>What to search for, beyond the target (DRT_SEARCH_INFO). Without a range the search is exact.</summary>
public sealed record DrtSearchOptions
{
    /// <summary>The smallest acceptable key; with <see cref="MaxKey"/> it makes a nearest search in [min, max].</summary>
    public Key256? MinKey { get; init; }

    /// <summary>The largest acceptable key.</summary>
    public Key256? MaxKey { get; init; }

    /// <summary>How many results, nearest first (1..20).</summary>
    public int MaxResults { get; init; } = 1;

    /// <summary>Stop at the first registered key found anywhere in the range (then <see cref="MaxResults"/> must be 1).</summary>
    public bool AnyMatchInRange { get; init; }

    /// <summary>Whether this instance's own keys may be results (remote only by default).</summary>
    public bool AllowLocalMatch { get; init; }

    /// <summary>
    /// One hop at a time (DRT's iterative search): each node that answers comes as an
    /// <see cref="DrtMatch.Intermediate"/> result, and the search waits for <see cref="DrtSearch.ContinueAsync"/>
    /// before its next hop; stop it by ending the enumeration.
    /// </summary>
    public bool Iterative { get; init; }

    /// <summary>How long the search may take; it then ends with what it has, and says so.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>One result: a registered key, its owner's endpoints and the data it published, or an iterative hop.</summary>
/// <param name="Match">Exact, near, or (iterative) intermediate.</param>
/// <param name="Key">The registered key (for an intermediate hop: the key of the node that answered).</param>
/// <param name="AppData">The data registered with it; empty for an intermediate hop.</param>
/// <param name="Endpoints">Where its owner receives.</param>
/// <param name="Hops">
/// Overlay hops from this instance to the key's owner: 0 for a local key, 1 for an owner this instance knew, one more
/// for each referral on the way.
/// </param>
public sealed record DrtSearchResult(DrtMatch Match, Key256 Key, ReadOnlyMemory<byte> AppData, IReadOnlyList<IPEndPoint> Endpoints, int Hops);

/// <summary>
/// A search under way: enumerate it (once) for its results, nearest the target first, as they come. A search that
/// finds nothing ends with no results, not an error; one that runs out of time ends with what it has and sets
/// <see cref="TimedOut"/>; cancelling or leaving the enumeration early stops all traffic for it.
/// </summary>
public sealed class DrtSearch : IAsyncEnumerable<DrtSearchResult>
{
    private readonly DrtInstance _instance;
    private readonly Channel<DrtSearchResult> _results = Channel.CreateUnbounded<DrtSearchResult>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly TimeSpan _timeout;
    private readonly bool _iterative;
    private readonly bool _anyInRange;
    private readonly CancellationTokenRegistration _closed;
    private volatile IReadOnlyList<DrtPathHop> _path = [];
    private long _id;
    private long _startedAt;
    private int _enumerated;
    private int _stopped;
    private volatile bool _ended;

    internal DrtSearch(DrtInstance instance, DrtSearchOptions options)
    {
        _instance = instance;
        _timeout = options.Timeout;
        _iterative = options.Iterative;
        _anyInRange = options.AnyMatchInRange;
        _closed = instance.EngineStopped.Register(End); // closed under the search: it ends
    }

    /// <summary>True when the search ended because its <see cref="DrtSearchOptions.Timeout"/> passed.</summary>
    public bool TimedOut { get; private set; }

    /// <summary>
    /// Every node the search contacted, in order, with what happened there: as of the latest hop of an iterative search,
    /// and the whole path once the search has ended.
    /// </summary>
    public IReadOnlyList<DrtPathHop> Path => _path;

    /// <summary>
    /// Lets a paused iterative search take its next hop (after an <see cref="DrtMatch.Intermediate"/> result); nothing
    /// happens once it has ended. Throws <see cref="DrtError.InvalidOperation"/> for a search that is not iterative.
    /// </summary>
    public async Task ContinueAsync()
    {
        if (!_iterative)
        {
            throw new DrtException(DrtError.InvalidOperation, "Only an iterative search waits to be continued; set DrtSearchOptions.Iterative to search one hop at a time.");
        }

        await _instance.InvokeAsync(now => _instance.Engine.ContinueSearch(_id, now)).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async IAsyncEnumerator<DrtSearchResult> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _enumerated, 1) != 0)
        {
            throw new DrtException(DrtError.InvalidOperation, "A search's results can be enumerated once; start another search to search again.");
        }

        using var timeout = new CancellationTokenSource(_timeout, _instance.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        try
        {
            while (await NextAsync(linked.Token, cancellationToken).ConfigureAwait(false) is { } result)
            {
                yield return result;
            }
        }
        finally
        {
            // Left early (or cancelled): the engine forgets the search, so nothing more is sent for it.
            await StopAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The next result; null once the search has ended. Out of time, it stops the search and drains it.</summary>
    private async ValueTask<DrtSearchResult?> NextAsync(CancellationToken deadline, CancellationToken caller)
    {
        try
        {
            CancellationToken token = Volatile.Read(ref _stopped) != 0 ? CancellationToken.None : deadline;
            return await _results.Reader.WaitToReadAsync(token).ConfigureAwait(false) && _results.Reader.TryRead(out DrtSearchResult? result) ? result : null;
        }
        catch (OperationCanceledException) when (!caller.IsCancellationRequested)
        {
            // Out of time: the engine ends the search with what it has confirmed, which comes as its last results.
            TimedOut = true;
            await StopAsync().ConfigureAwait(false);
            return await _results.Reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false) && _results.Reader.TryRead(out DrtSearchResult? result) ? result : null;
        }
    }

    /// <summary>Ends the search in the engine unless it has ended (once; its completion then ends the results).</summary>
    private async Task StopAsync()
    {
        if (_ended || Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        try
        {
            await _instance.InvokeAsync(now => _instance.Engine.CancelSearch(_id, now), evenIfClosed: true).ConfigureAwait(false);
        }
        catch (DrtException error) when (error.Error is DrtError.Faulted or DrtError.Closed)
        {
            End(); // the engine can no longer end it
        }
    }

    /// <summary>Starts the engine's search (engine thread).</summary>
    internal void Start(in SearchRequest request, long now)
    {
        _startedAt = now; // before the engine starts it: a search that needs no one completes inside StartSearch
        _id = _instance.Engine.StartSearch(request, OnCompleted, _iterative ? OnIntermediate : null, now);
        // Id 0 with the search ended: it needed no one (its results are already queued); otherwise no slot was free.
        if (_id == 0 && !_ended)
        {
            _instance.Metrics.SearchEnded(SearchMetricOutcome.Busy, hops: null, durationMicros: 0, []);
            throw new DrtException(DrtError.Busy, "Too many searches are running at once; wait for one to end and search again.");
        }
    }

    private void OnIntermediate(SearchResultData hop)
    {
        _path = Describe(_instance.Engine.SearchPath(_id));
        _results.Writer.TryWrite(ResultOf(hop));
    }

    private void OnCompleted(SearchOutcome outcome)
    {
        _path = Describe(_instance.Engine.DescribePath(outcome.Path));
        foreach (SearchResultData result in outcome.Results)
        {
            _results.Writer.TryWrite(ResultOf(result));
        }

        // Stopped means the caller ended it (StopAsync ran, after setting TimedOut when that was the reason); the
        // engine then completes it at once with what it had. Otherwise it ended by itself.
        SearchMetricOutcome metric = Volatile.Read(ref _stopped) != 0
            ? TimedOut ? SearchMetricOutcome.TimedOut : SearchMetricOutcome.Cancelled
            : outcome.Results.Count > 0 ? SearchMetricOutcome.Found : SearchMetricOutcome.NotFound;
        _instance.Metrics.SearchEnded(metric, outcome.Results.Count > 0 ? outcome.Results[0].Hops : null, _instance.Engine.Now() - _startedAt, outcome.Path);

        End();
        _closed.Unregister(); // the instance need not keep an ended search
    }

    /// <summary>No more results: what is queued is still read, then the enumeration ends.</summary>
    private void End()
    {
        _ended = true;
        _results.Writer.TryComplete();
    }

    private DrtSearchResult ResultOf(SearchResultData data)
    {
        DrtMatch match = data.IsIntermediate ? DrtMatch.Intermediate : data.IsExact || _anyInRange ? DrtMatch.Exact : DrtMatch.Near;
        return new DrtSearchResult(match, data.Key, data.AppData, data.Endpoints, data.Hops);
    }

    private static DrtPathHop[] Describe(PathHop[] path) =>
        [.. path.Select(h => new DrtPathHop(h.Endpoint, h.Key, (DrtHopOutcome)h.Outcome, h.RttMicros > 0 ? TimeSpan.FromMicroseconds(h.RttMicros) : null))];

    /// <summary>Checks the options against the target and turns them into the engine's request (DRT's rules).</summary>
    internal static SearchRequest Request(Key256 target, DrtSearchOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxResults is < 1 or > WireLimits.MaxReplyEntries)
        {
            throw new DrtException(DrtError.InvalidMaxEndpoints, $"MaxResults must be in 1..{WireLimits.MaxReplyEntries}; it was {options.MaxResults}.");
        }

        if (options.AnyMatchInRange && options.MaxResults > 1)
        {
            throw new DrtException(DrtError.InvalidMaxEndpoints, "AnyMatchInRange returns one key: MaxResults must be 1 with it.");
        }

        if (options.Timeout <= TimeSpan.Zero)
        {
            throw new DrtException(DrtError.InvalidArgument, $"Timeout must be positive; it was {options.Timeout}.");
        }

        if (options.MinKey is null && options.MaxKey is null)
        {
            if (options.AnyMatchInRange || options.MaxResults > 1)
            {
                throw new DrtException(DrtError.InvalidSearchRange, "AnyMatchInRange and MaxResults > 1 need a range: give MinKey and MaxKey.");
            }

            return SearchRequest.Exact(target, options.AllowLocalMatch) with { Iterative = options.Iterative };
        }

        Key256 min = options.MinKey ?? Key256.Zero;
        Key256 max = options.MaxKey ?? Key256.MaxValue;
        if (min > max || target < min || target > max)
        {
            throw new DrtException(DrtError.InvalidSearchRange, $"The target must lie in [MinKey, MaxKey] and MinKey ≤ MaxKey; target {target}, range [{min}, {max}].");
        }

        LookupKind kind = options.AnyMatchInRange ? LookupKind.AnyInRange : min == max ? LookupKind.Exact : LookupKind.Nearest;
        return new SearchRequest(target, kind, min, max, options.MaxResults, options.AllowLocalMatch, options.Iterative);
    }
}
