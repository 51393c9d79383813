using Drt.Overlay;
using Drt.Overlay.Wire;

namespace Drt.Node.Node;

/// <summary>What the CLI's search flags ask for.</summary>
/// <param name="Target">The key searched for.</param>
/// <param name="Nearest">Nearest rather than exact; over the whole ring without <paramref name="Min"/> and <paramref name="Max"/>.</param>
/// <param name="Min">The range's low end.</param>
/// <param name="Max">The range's high end.</param>
/// <param name="MaxResults">How many results.</param>
/// <param name="AnyInRange">Any key in the range will do.</param>
/// <param name="IncludeLocal">The instance's own keys may be results.</param>
/// <param name="Iterative">One hop at a time, each reported (continued to the end).</param>
/// <param name="Timeout">How long it may take; null: the library's default.</param>
internal sealed record SearchSpec(Key256 Target, bool Nearest, Key256? Min, Key256? Max, int MaxResults, bool AnyInRange, bool IncludeLocal, bool Iterative, TimeSpan? Timeout)
{
    /// <summary>The library's options for this search.</summary>
    public DrtSearchOptions Options()
    {
        bool ranged = Nearest || Min is not null || Max is not null || AnyInRange || MaxResults > 1;
        var options = new DrtSearchOptions
        {
            MinKey = ranged ? Min ?? Key256.Zero : null,
            MaxKey = ranged ? Max ?? Key256.MaxValue : null,
            MaxResults = MaxResults,
            AnyMatchInRange = AnyInRange,
            AllowLocalMatch = IncludeLocal,
            Iterative = Iterative,
        };
        return Timeout is { } timeout ? options with { Timeout = timeout } : options;
    }
}

/// <summary>Runs a search to its end, the way the CLI shows it: every result, iterative hops included.</summary>
internal static class Searches
{
    /// <summary>Searches from <paramref name="instance"/>; an iterative search is continued hop after hop.</summary>
    public static async Task<(List<DrtSearchResult> Results, bool TimedOut)> RunAsync(DrtInstance instance, SearchSpec spec, CancellationToken cancellationToken)
    {
        DrtSearch search = await instance.SearchAsync(spec.Target, spec.Options(), cancellationToken).ConfigureAwait(false);
        var results = new List<DrtSearchResult>();
        await foreach (DrtSearchResult result in search.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            results.Add(result);
            if (result.Match == DrtMatch.Intermediate)
            {
                await search.ContinueAsync().ConfigureAwait(false);
            }
        }

        return (results, search.TimedOut);
    }
}
