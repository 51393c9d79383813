using System.Diagnostics;
using Drt.Overlay.Engine;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Simulation;

/// <summary>What <see cref="RingExperiment.Run"/> builds and asks.</summary>
/// <param name="Nodes">Nodes, one registered key each.</param>
/// <param name="Searches">Exact searches for random live keys; a tenth as many nearest searches follow.</param>
/// <param name="Seed">Seed for keys, links and every engine.</param>
/// <param name="Loss">Datagram loss on every link, each way.</param>
/// <param name="CrashFraction">Fraction of nodes crashed at once after convergence.</param>
/// <param name="Routes">Messages routed recursively from random live nodes to random targets, after the searches.</param>
internal sealed record ExperimentSettings(int Nodes, int Searches, int Seed, double Loss, double CrashFraction, int Routes = 0);

/// <summary>
/// The simulator's experiment, shared by <c>tools/Drt.Sim</c> and the large-ring tests: join N nodes one by one on a
/// WAN-like simulated network, maintain until every leaf set is the true one (at most ten periods), measure
/// maintenance over five quiet periods, optionally crash a fraction and wait two periods, then run exact and
/// nearest searches and check every answer — key and data — against the oracle, the sorted live keys.
/// </summary>
internal static class RingExperiment
{
    /// <summary>The links of every experiment: 5–65 ms one way by pair, 3 ms jitter.</summary>
    public static LinkProfile Wan { get; } = new()
    {
        Latency = TimeSpan.FromMilliseconds(5),
        Spread = TimeSpan.FromMilliseconds(60),
        Jitter = TimeSpan.FromMilliseconds(3),
    };

    /// <summary>Runs the experiment; progress lines go to <paramref name="log"/> when given.</summary>
    public static ExperimentReport Run(ExperimentSettings settings, TextWriter? log = null)
    {
        var wall = Stopwatch.StartNew();
        var ring = new JoinedRing(settings.Seed, Wan with { Loss = settings.Loss });
        TimeSpan period = ring.MaintenancePeriod;

        // Joins one after another, then maintenance until every leaf set is the true one (or ten periods).
        ring.JoinOneByOne(settings.Nodes, TimeSpan.FromMilliseconds(200));
        int wrongLeafSets = ring.CountWrongLeafSets(out _);
        for (int round = 0; round < 10 && wrongLeafSets > 0; round++)
        {
            ring.Scheduler.RunFor(period);
            wrongLeafSets = ring.CountWrongLeafSets(out _);
        }

        TimeSpan converged = ring.Scheduler.Elapsed;
        log?.WriteLine($"{settings.Nodes} nodes joined; {wrongLeafSets} leaf sets wrong at {converged.TotalSeconds:F0} s virtual; routing entries per node: mean {ring.Nodes.Average(n => n.Engine.Keys[0].Routes.Count):F1}");

        // Maintenance cost in the settled ring, before any search traffic.
        long sentBefore = ring.Nodes.Sum(n => n.Engine.Counters.MaintenanceSent);
        long bytesBefore = ring.Nodes.Sum(n => n.Engine.Counters.MaintenanceBytes);
        TimeSpan window = 5 * period;
        ring.Scheduler.RunFor(window);
        double perNodeSecond = settings.Nodes * window.TotalSeconds;
        double maintMessages = (ring.Nodes.Sum(n => n.Engine.Counters.MaintenanceSent) - sentBefore) / perNodeSecond;
        double maintBytes = (ring.Nodes.Sum(n => n.Engine.Counters.MaintenanceBytes) - bytesBefore) / perNodeSecond;

        int crashed = 0;
        if (settings.CrashFraction > 0)
        {
            crashed = (int)Math.Round(settings.Nodes * settings.CrashFraction);
            foreach (JoinedRing.Node victim in ring.Nodes.OrderBy(_ => ring.Random.Next()).Take(crashed).ToList())
            {
                ring.Crash(victim);
            }

            ring.Scheduler.RunFor(2 * period);
            wrongLeafSets = ring.CountWrongLeafSets(out _);
            log?.WriteLine($"{crashed} crashed; {wrongLeafSets} leaf sets wrong two periods later");
        }

        List<JoinedRing.Node> live = ring.LiveNodes;
        Key256[] oracle = [.. live.Select(n => n.Key).Order()];
        var tally = new SearchTally();
        for (int i = 0; i < settings.Searches; i++)
        {
            JoinedRing.Node from = live[ring.Random.Next(live.Count)];
            JoinedRing.Node owner = live[ring.Random.Next(live.Count)];
            SearchOutcome? outcome = ring.Search(from, SearchRequest.Exact(owner.Key, allowLocal: true), TimeSpan.FromMinutes(2));
            tally.Add(outcome, from, owner.Key, owner.AppData);
        }

        for (int i = 0; i < settings.Searches / 10; i++)
        {
            JoinedRing.Node from = live[ring.Random.Next(live.Count)];
            Key256 target = Key256.Random(ring.Random);
            Key256 nearest = Nearest(oracle, target);
            var request = new SearchRequest(target, LookupKind.Nearest, Key256.Zero, Key256.MaxValue, 1, AllowLocal: true);
            SearchOutcome? outcome = ring.Search(from, request, TimeSpan.FromMinutes(2));
            tally.Add(outcome, from, nearest, live.Find(n => n.Key == nearest)!.AppData);
        }

        RouteTally routes = RouteMany(ring, live, oracle, settings.Routes);

        wall.Stop();
        var report = new ExperimentReport(tally, wrongLeafSets, crashed, maintMessages, maintBytes, ring.Scheduler.Elapsed.TotalSeconds, wall.Elapsed.TotalSeconds)
        {
            Routes = routes,
        };
        log?.WriteLine($"{tally.Total} searches: {tally.Succeeded} succeeded ({report.SuccessRate:P3}), {tally.Wrong} wrong, {tally.Failed} without answer");
        if (tally.FirstWrong is { } wrongAnswer)
        {
            log?.WriteLine($"first wrong answer: {wrongAnswer}");
        }

        log?.WriteLine($"hops: mean {report.MeanHops:F2}, p99 {report.P99Hops} (log16 N = {Math.Log(settings.Nodes, 16):F2}); searches by hops [{string.Join(", ", report.HopHistogram)}]");
        if (routes.Total > 0)
        {
            log?.WriteLine($"{routes.Total} routed: {routes.AtRoot} delivered at the true root ({report.RouteSuccessRate:P3}), {routes.Elsewhere} elsewhere, {routes.Twice} twice, {routes.Lost} lost; hops mean {report.MeanRouteHops:F2}, p99 {RouteTally.Percentile99(routes.Hops)}");
        }

        log?.WriteLine($"maintenance: {maintMessages:F3} datagrams and {maintBytes:F0} bytes per node per second");
        log?.WriteLine($"{report.VirtualSeconds:F0} s virtual in {report.WallSeconds:F1} s");
        return report;
    }

    /// <summary>
    /// Routes <paramref name="count"/> messages, one every 10 ms of virtual time, from random live nodes to random
    /// targets, each payload its sequence number; every delivery is checked against the oracle's root.
    /// </summary>
    private static RouteTally RouteMany(JoinedRing ring, List<JoinedRing.Node> live, Key256[] oracle, int count)
    {
        var tally = new RouteTally(count);
        if (count == 0)
        {
            return tally;
        }

        var expected = new Key256[count];
        foreach (JoinedRing.Node node in live)
        {
            node.Engine.DeliverHandler = (in RoutedMessage message, Key256 root) =>
                tally.Delivered(BitConverter.ToInt32(message.Payload.Span), root, expected, message.Hops);
        }

        for (int i = 0; i < count; i++)
        {
            Key256 target = Key256.Random(ring.Random);
            expected[i] = Nearest(oracle, target);
            ring.Route(live[ring.Random.Next(live.Count)], target, BitConverter.GetBytes(i));
            ring.Scheduler.RunFor(TimeSpan.FromMilliseconds(10));
        }

        ring.Scheduler.RunFor(TimeSpan.FromSeconds(30)); // every retransmission ends within seconds
        return tally;
    }

    /// <summary>The live key nearest <paramref name="target"/> on the ring (ties as the engine breaks them).</summary>
    private static Key256 Nearest(Key256[] sorted, Key256 target)
    {
        int index = Array.BinarySearch(sorted, target);
        if (index >= 0)
        {
            return sorted[index];
        }

        int above = ~index % sorted.Length;
        int below = (~index - 1 + sorted.Length) % sorted.Length;
        return Key256.CompareCloseness(target, sorted[above], sorted[below]) <= 0 ? sorted[above] : sorted[below];
    }

}

/// <summary>What an experiment measured.</summary>
internal sealed record ExperimentReport(SearchTally Tally, int WrongLeafSets, int Crashed, double MaintMessages, double MaintBytes, double VirtualSeconds, double WallSeconds)
{
    public double SuccessRate => Tally.Total == 0 ? 1 : Tally.Succeeded / (double)Tally.Total;

    public double MeanHops => Tally.Hops.Count == 0 ? 0 : Tally.Hops.Average();

    /// <summary>The routed messages, when the experiment routed any.</summary>
    public RouteTally Routes { get; init; } = new(0);

    /// <summary>Routed messages delivered exactly once, at the true root.</summary>
    public double RouteSuccessRate => Routes.Total == 0 ? 1 : Routes.AtRoot / (double)Routes.Total;

    public double MeanRouteHops => Routes.Hops.Count == 0 ? 0 : Routes.Hops.Average();

    /// <summary>How many answered searches took each number of hops, index = hops.</summary>
    public int[] HopHistogram
    {
        get
        {
            int[] histogram = new int[Tally.Hops.Count == 0 ? 0 : Tally.Hops.Max() + 1];
            foreach (int hops in Tally.Hops)
            {
                histogram[hops]++;
            }

            return histogram;
        }
    }

    public int P99Hops => RouteTally.Percentile99(Tally.Hops);
}

/// <summary>
/// Routed messages checked against the oracle: each should reach the application once, at the live key nearest its
/// target.
/// </summary>
internal sealed class RouteTally(int total)
{
    private readonly int[] _deliveries = new int[total];
    private readonly bool[] _atRoot = new bool[total];

    public int Total => total;

    /// <summary>Delivered exactly once, at the true root.</summary>
    public int AtRoot => Enumerable.Range(0, total).Count(i => _deliveries[i] == 1 && _atRoot[i]);

    /// <summary>Delivered (first) at a node that is not the true root.</summary>
    public int Elsewhere => Enumerable.Range(0, total).Count(i => _deliveries[i] > 0 && !_atRoot[i]);

    /// <summary>Delivered more than once.</summary>
    public int Twice => _deliveries.Count(d => d > 1);

    /// <summary>Never delivered.</summary>
    public int Lost => _deliveries.Count(d => d == 0);

    /// <summary>Hops of each first delivery at the true root.</summary>
    public List<int> Hops { get; } = [];

    public void Delivered(int sequence, Key256 root, Key256[] expected, int hops)
    {
        if (_deliveries[sequence]++ == 0 && root == expected[sequence])
        {
            _atRoot[sequence] = true;
            Hops.Add(hops);
        }
    }

    /// <summary>The 99th percentile of <paramref name="values"/> (0 when empty).</summary>
    public static int Percentile99(List<int> values)
    {
        if (values.Count == 0)
        {
            return 0;
        }

        List<int> sorted = [.. values.Order()];
        return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(0.99 * sorted.Count) - 1)];
    }
}

/// <summary>Answers checked against the oracle: right, wrong (another key or other data), or none.</summary>
internal sealed class SearchTally
{
    public int Total { get; private set; }

    public int Succeeded { get; private set; }

    public int Wrong { get; private set; }

    public int Failed { get; private set; }

    public List<int> Hops { get; } = [];

    /// <summary>What the first wrong answer was, for the report.</summary>
    public string? FirstWrong { get; private set; }

    public void Add(SearchOutcome? outcome, JoinedRing.Node from, Key256 expected, byte[] appData)
    {
        Total++;
        if (outcome is null || outcome.Results.Count == 0)
        {
            Failed++;
            return;
        }

        SearchResultData first = outcome.Results[0];
        if (first.Key != expected || !first.AppData.AsSpan().SequenceEqual(appData))
        {
            FirstWrong ??= $"from {from.Key.ToShortString()}: expected {expected.ToShortString()}, got {first.Key.ToShortString()}{(first.Key == expected ? " with other data" : "")} after {outcome.Path.Count} hops";
            Wrong++;
            return;
        }

        Succeeded++;
        Hops.Add(first.Hops);
    }
}
