using System.Net;
using Drt.Overlay.Engine;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay;

/// <summary>How a search result matched (DRT_MATCH_TYPE).</summary>
public enum DrtMatch
{
    /// <summary>The key searched for.</summary>
    Exact,

    /// <summary>The registered key nearest the target within the range.</summary>
    Near,
}

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

    /// <summary>How long the search may take; it then ends with what it has, and says so.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>One result: a registered key, its owner's endpoints and the data it published.</summary>
/// <param name="Match">Exact or near.</param>
/// <param name="Key">The registered key.</param>
/// <param name="AppData">The data registered with it.</param>
/// <param name="Endpoints">Where its owner receives.</param>
public sealed record DrtSearchResult(DrtMatch Match, Key256 Key, ReadOnlyMemory<byte> AppData, IReadOnlyList<IPEndPoint> Endpoints);

/// <summary>
/// A search under way: enumerate it for its results, nearest the target first. A search that finds nothing ends with
/// no results, not an error; one that runs out of time ends with what it has and sets <see cref="TimedOut"/>;
/// cancelling the enumeration stops all traffic for it.
/// </summary>
public sealed class DrtSearch : IAsyncEnumerable<DrtSearchResult>
{
    private readonly DrtInstance _instance;
    private readonly TaskCompletionSource<IReadOnlyList<DrtSearchResult>> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TimeSpan _timeout;
    private long _id;
    private int _enumerated;

    internal DrtSearch(DrtInstance instance, TimeSpan timeout)
    {
        _instance = instance;
        _timeout = timeout;
    }

    /// <summary>True when the search ended because its <see cref="DrtSearchOptions.Timeout"/> passed.</summary>
    public bool TimedOut { get; private set; }

    /// <inheritdoc/>
    public async IAsyncEnumerator<DrtSearchResult> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _enumerated, 1) != 0)
        {
            throw new DrtException(DrtError.InvalidOperation, "A search's results can be enumerated once; start another search to search again.");
        }

        IReadOnlyList<DrtSearchResult> results;
        using (var timeout = new CancellationTokenSource(_timeout))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken))
        {
            try
            {
                results = await _done.Task.WaitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!_done.Task.IsCompleted)
            {
                // Out of time, or the caller cancelled: the engine forgets the search (no more traffic) and
                // completes it with what it has confirmed.
                TimedOut = !cancellationToken.IsCancellationRequested;
                await _instance.InvokeAsync(now => _instance.Engine.CancelSearch(_id, now)).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                results = await _done.Task.ConfigureAwait(false);
            }
        }

        foreach (DrtSearchResult result in results)
        {
            yield return result;
        }
    }

    /// <summary>Starts the engine's search (engine thread).</summary>
    internal void Start(in SearchRequest request, long now)
    {
        _id = _instance.Engine.StartSearch(request, OnCompleted, null, now);
        if (_id == 0 && !_done.Task.IsCompleted)
        {
            throw new DrtException(DrtError.Busy, "Too many searches are running at once; wait for one to end and search again.");
        }
    }

    private void OnCompleted(SearchOutcome outcome) =>
        _done.TrySetResult([.. outcome.Results.Select(r => new DrtSearchResult(r.IsExact ? DrtMatch.Exact : DrtMatch.Near, r.Key, r.AppData, [r.Endpoint]))]);

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

            return SearchRequest.Exact(target, options.AllowLocalMatch);
        }

        Key256 min = options.MinKey ?? Key256.Zero;
        Key256 max = options.MaxKey ?? Key256.MaxValue;
        if (min > max || target < min || target > max)
        {
            throw new DrtException(DrtError.InvalidSearchRange, $"The target must lie in [MinKey, MaxKey] and MinKey ≤ MaxKey; target {target}, range [{min}, {max}].");
        }

        LookupKind kind = options.AnyMatchInRange ? LookupKind.AnyInRange : min == max ? LookupKind.Exact : LookupKind.Nearest;
        return new SearchRequest(target, kind, min, max, options.MaxResults, options.AllowLocalMatch);
    }
}
