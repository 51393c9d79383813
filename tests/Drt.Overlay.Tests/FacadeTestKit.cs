using System.Net;
using Drt.Overlay.Wire;
using Xunit;

namespace Drt.Overlay.Tests;

/// <summary>What the facade's tests share: settings for loopback instances, bounded polls, failure descriptions.</summary>
internal static class FacadeTestKit
{
    /// <summary>The maintenance period of test instances: short, so that joins and repairs take seconds.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromMilliseconds(500);

    public static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>For a failure message: what the instance's engine knows and did (read off its thread: roughly).</summary>
    public static string Describe(DrtInstance i) =>
        $"{i.InstanceName} {i.Status}, joined {i.Engine.Joined}, keys {string.Join(",", i.Engine.Keys.Select(k => $"{k.Key.ToShortString()} placed {k.Placed} joining {k.Joining} leaf {k.LeafSet.Larger.Length}+{k.LeafSet.Smaller.Length}"))}, sent {i.Engine.Counters.Sent}, received {i.Engine.Counters.Received}";

    public static DrtSettings Settings(string name) => new() { InstanceName = name, BindAddress = IPAddress.Loopback, MaintenancePeriod = Period };

    public static IPEndPoint Loopback(DrtInstance instance) => new(IPAddress.Loopback, instance.LocalEndpoints[0].Port);

    public static async Task<List<DrtSearchResult>> ResultsOf(DrtSearch search)
    {
        var results = new List<DrtSearchResult>();
        await foreach (DrtSearchResult result in search.WithCancellation(Cancel))
        {
            results.Add(result);
        }

        return results;
    }

    /// <summary>Bounded poll: a search every half second, at most 40, until it finds <paramref name="key"/>.</summary>
    public static async Task<DrtSearchResult> SearchUntilFound(DrtInstance from, Key256 key, DrtInstance owner)
    {
        for (int attempt = 0; attempt < 40; attempt++)
        {
            List<DrtSearchResult> results = await ResultsOf(await from.SearchAsync(key, new DrtSearchOptions { Timeout = TimeSpan.FromSeconds(5) }, Cancel));
            if (results.Count == 1)
            {
                return results[0];
            }

            await Task.Delay(Period, Cancel);
        }

        throw new Xunit.Sdk.XunitException($"{key} was not found in 40 searches; searcher {Describe(from)}; owner {Describe(owner)}");
    }

}
