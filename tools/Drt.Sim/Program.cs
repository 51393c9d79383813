using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Drt.Overlay.Engine;
using Drt.Overlay.Simulation;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Sim;

/// <summary>
/// drt-sim: builds an N-node ring on the simulated network with the real engine and the real join protocol, lets it
/// converge, optionally crashes a fraction of it, then runs exact and nearest searches and checks every answer
/// against the oracle (the sorted set of live keys).
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        var nodes = new Option<int>("--nodes") { Description = "Nodes, one registered key each (2..5000).", DefaultValueFactory = _ => 100 };
        var searches = new Option<int>("--searches") { Description = "Exact searches for random live keys; a tenth as many nearest searches follow.", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { Description = "Seed for keys, links and every engine.", DefaultValueFactory = _ => 1 };
        var loss = new Option<double>("--loss") { Description = "Datagram loss on every link, each way (0..0.5).", DefaultValueFactory = _ => 0 };
        var crash = new Option<double>("--crash-fraction") { Description = "Fraction of nodes crashed at once after convergence (0..0.9).", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object at the end instead of text." };
        nodes.Validators.Add(r => Check(r.GetValueOrDefault<int>() is >= 2 and <= 5000, r, "--nodes must be in 2..5000"));
        searches.Validators.Add(r => Check(r.GetValueOrDefault<int>() is >= 0 and <= 1_000_000, r, "--searches must be in 0..1000000"));
        loss.Validators.Add(r => Check(r.GetValueOrDefault<double>() is >= 0 and <= 0.5, r, "--loss must be in 0..0.5"));
        crash.Validators.Add(r => Check(r.GetValueOrDefault<double>() is >= 0 and <= 0.9, r, "--crash-fraction must be in 0..0.9"));

        var root = new RootCommand("Runs a Drt.Overlay ring on the simulated network and checks searches against the oracle.")
        {
            nodes, searches, seed, loss, crash, json,
        };
        root.SetAction(parse =>
        {
            var settings = new Settings(parse.GetValue(nodes), parse.GetValue(searches), parse.GetValue(seed), parse.GetValue(loss), parse.GetValue(crash));
            Report report = Run(settings, parse.GetValue(json) ? null : Console.Out);
            if (parse.GetValue(json))
            {
                WriteJson(settings, report);
            }

            return 0;
        });

        ParseResult result = root.Parse(args);
        if (result.Errors.Count > 0)
        {
            Console.Error.WriteLine($"drt-sim: {result.Errors[0].Message}");
            return 2;
        }

        return result.Invoke();
    }

    private static void Check(bool ok, System.CommandLine.Parsing.OptionResult result, string message)
    {
        if (!ok)
        {
            result.AddError(message);
        }
    }

    private static Report Run(Settings settings, TextWriter? log)
    {
        var wall = Stopwatch.StartNew();
        var link = new LinkProfile
        {
            Latency = TimeSpan.FromMilliseconds(5),
            Spread = TimeSpan.FromMilliseconds(60),
            Jitter = TimeSpan.FromMilliseconds(3),
            Loss = settings.Loss,
        };
        var ring = new JoinedRing(settings.Seed, link);
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
        log?.WriteLine($"{settings.Nodes} nodes joined; {wrongLeafSets} leaf sets wrong at {converged.TotalSeconds:F0} s virtual");

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
        var tally = new Tally();
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

        wall.Stop();
        var report = new Report(tally, wrongLeafSets, crashed, maintMessages, maintBytes, ring.Scheduler.Elapsed.TotalSeconds, wall.Elapsed.TotalSeconds);
        log?.WriteLine($"{tally.Total} searches: {tally.Succeeded} succeeded ({report.SuccessRate:P3}), {tally.Wrong} wrong, {tally.Failed} without answer");
        log?.WriteLine($"hops: mean {report.MeanHops:F2}, p99 {report.P99Hops} (log16 N = {Math.Log(settings.Nodes, 16):F2})");
        log?.WriteLine($"maintenance: {maintMessages:F3} datagrams and {maintBytes:F0} bytes per node per second");
        log?.WriteLine($"{report.VirtualSeconds:F0} s virtual in {report.WallSeconds:F1} s");
        return report;
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

    private static void WriteJson(Settings settings, Report report)
    {
        using var stream = Console.OpenStandardOutput();
        using var writer = new Utf8JsonWriter(stream);
        writer.WriteStartObject();
        writer.WriteNumber("nodes", settings.Nodes);
        writer.WriteNumber("seed", settings.Seed);
        writer.WriteNumber("loss", settings.Loss);
        writer.WriteNumber("crashed", report.Crashed);
        writer.WriteNumber("searches", report.Tally.Total);
        writer.WriteNumber("succeeded", report.Tally.Succeeded);
        writer.WriteNumber("success_rate", Math.Round(report.SuccessRate, 6));
        writer.WriteNumber("wrong", report.Tally.Wrong);
        writer.WriteNumber("unanswered", report.Tally.Failed);
        writer.WriteNumber("mean_hops", Math.Round(report.MeanHops, 3));
        writer.WriteNumber("p99_hops", report.P99Hops);
        writer.WriteNumber("leaf_sets_wrong", report.WrongLeafSets);
        writer.WriteNumber("maint_msgs_per_node_s", Math.Round(report.MaintMessages, 4));
        writer.WriteNumber("maint_bytes_per_node_s", Math.Round(report.MaintBytes, 1));
        writer.WriteNumber("virtual_s", Math.Round(report.VirtualSeconds, 1));
        writer.WriteNumber("wall_s", Math.Round(report.WallSeconds, 2));
        writer.WriteEndObject();
        writer.Flush();
        stream.WriteByte((byte)'\n');
    }

    private sealed record Settings(int Nodes, int Searches, int Seed, double Loss, double CrashFraction);

    private sealed record Report(Tally Tally, int WrongLeafSets, int Crashed, double MaintMessages, double MaintBytes, double VirtualSeconds, double WallSeconds)
    {
        public double SuccessRate => Tally.Total == 0 ? 1 : Tally.Succeeded / (double)Tally.Total;

        public double MeanHops => Tally.Hops.Count == 0 ? 0 : Tally.Hops.Average();

        public int P99Hops
        {
            get
            {
                if (Tally.Hops.Count == 0)
                {
                    return 0;
                }

                List<int> sorted = [.. Tally.Hops.Order()];
                return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(0.99 * sorted.Count) - 1)];
            }
        }
    }

    /// <summary>Answers checked against the oracle: right, wrong (another key or other data), or none.</summary>
    private sealed class Tally
    {
        public int Total { get; private set; }

        public int Succeeded { get; private set; }

        public int Wrong { get; private set; }

        public int Failed { get; private set; }

        public List<int> Hops { get; } = [];

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
                Wrong++;
                return;
            }

            Succeeded++;
            Hops.Add(JoinedRing.HopsOf(outcome, from) ?? 0);
        }
    }

    static Program() => CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
}
