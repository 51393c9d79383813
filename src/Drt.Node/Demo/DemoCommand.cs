using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Drt.Node.Cli;
using Drt.Overlay;
using Drt.Overlay.Bootstrap;
using Drt.Overlay.Transport;
using Drt.Overlay.Wire;

namespace Drt.Node.Demo;

/// <summary>
/// <c>drt demo</c>: an N-instance mesh on loopback UDP in this process. It registers keys across the instances, waits
/// until every leaf set has settled, runs exact and nearest searches from random instances (each answer checked
/// against the set of registered keys), and prints a summary: success, wrong answers, hops, latency, datagrams.
/// </summary>
internal static class DemoCommand
{
    /// <summary>Searches in flight at once.</summary>
    private const int InFlight = 32;

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var nodes = new Option<int>("--nodes") { Description = "Instances in the mesh (2..200).", DefaultValueFactory = _ => 24 };
        var keys = new Option<int>("--keys") { Description = "Keys registered, spread over the instances (1..10000).", DefaultValueFactory = _ => 100 };
        var searches = new Option<int>("--searches") { Description = "Searches: nine in ten exact for a registered key, one in ten nearest to a random target (0..1000000).", DefaultValueFactory = _ => 1000 };
        var loss = new Option<double>("--loss") { Description = "Fraction of datagrams every instance loses on sending (0..0.5).", DefaultValueFactory = _ => 0 };
        var seed = new Option<int>("--seed") { Description = "Seed for keys, targets and losses.", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "Print the summary as one JSON object." };
        nodes.Validators.Add(r => Range(r, r.GetValueOrDefault<int>(), 2, 200, "--nodes"));
        keys.Validators.Add(r => Range(r, r.GetValueOrDefault<int>(), 1, 10_000, "--keys"));
        searches.Validators.Add(r => Range(r, r.GetValueOrDefault<int>(), 0, 1_000_000, "--searches"));
        loss.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double>() is < 0 or > 0.5)
            {
                r.AddError("--loss must be in 0..0.5");
            }
        });
        var command = new Command("demo", "Runs a mesh of instances on loopback UDP in this process, searches it, and prints what it measured.")
        {
            nodes, keys, searches, loss, seed, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new DemoSettings(parse.GetValue(nodes), parse.GetValue(keys), parse.GetValue(searches), parse.GetValue(loss), parse.GetValue(seed));
            DemoReport report = await RunAsync(settings, stderr, cancellationToken).ConfigureAwait(false);
            Print(report, settings, new Output(stdout, parse.GetValue(json)));
            return report.Wrong == 0 ? ExitCodes.Success : ExitCodes.Failed;
        });
        return command;
    }

    /// <summary>Builds the mesh, searches it, closes it.</summary>
    public static async Task<DemoReport> RunAsync(DemoSettings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var random = new Random(settings.Seed);
        var instances = new List<DrtInstance>(settings.Nodes);
        var transports = new List<LossyTransport>();
        try
        {
            // The mesh: the first instance starts the ring, each next one joins through an earlier one.
            for (int i = 0; i < settings.Nodes; i++)
            {
                var transport = new LossyTransport(new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.Loopback }), settings.Loss, settings.Seed * 1_000 + i);
                transports.Add(transport);
                IPEndPoint? bootstrap = i == 0 ? null : new IPEndPoint(IPAddress.Loopback, instances[random.Next(i)].LocalEndpoints[0].Port);
                instances.Add(await DrtInstance.OpenAsync(
                    new DrtSettings
                    {
                        InstanceName = $"demo{i}",
                        Transport = transport,
                        MaintenancePeriod = TimeSpan.FromSeconds(1),
                        BootstrapProvider = bootstrap is null ? null : new StaticBootstrapProvider([bootstrap]),
                    },
                    cancellationToken).ConfigureAwait(false));
            }

            var registered = new SortedDictionary<Key256, byte[]>();
            for (int k = 0; k < settings.Keys; k++)
            {
                Key256 key = Key256.Random(random);
                byte[] data = System.Text.Encoding.UTF8.GetBytes($"key {k} at demo{k % settings.Nodes}");
                await instances[k % settings.Nodes].RegisterKeyAsync(key, data, cancellationToken).ConfigureAwait(false);
                registered[key] = data;
            }

            Key256[] ring = [.. registered.Keys];
            bool settledRight = await SettleAsync(instances, ring, progress, clock, cancellationToken).ConfigureAwait(false);
            TimeSpan settled = clock.Elapsed;

            var tally = new DemoTally();
            var throttle = new SemaphoreSlim(InFlight);
            var running = new List<Task>();
            long lastProgress = 0;
            for (int s = 0; s < settings.Searches; s++)
            {
                bool exact = s % 10 != 9;
                Key256 target = exact ? ring[random.Next(ring.Length)] : Key256.Random(random);
                DrtInstance from = instances[random.Next(instances.Count)];
                await throttle.WaitAsync(cancellationToken).ConfigureAwait(false);
                running.Add(SearchOneAsync(from, target, exact, ring, registered, tally, throttle, cancellationToken));
                if (clock.ElapsedMilliseconds - lastProgress >= 250)
                {
                    lastProgress = clock.ElapsedMilliseconds;
                    Progress(progress, $"searching: {tally.Done}/{settings.Searches} done, {tally.Succeeded} found, {tally.Wrong} wrong");
                }
            }

            await Task.WhenAll(running).ConfigureAwait(false);
            Progress(progress, $"searching: {tally.Done}/{settings.Searches} done, {tally.Succeeded} found, {tally.Wrong} wrong");
            await progress.WriteLineAsync().ConfigureAwait(false);
            TimeSpan searched = clock.Elapsed - settled;

            long datagrams = 0;
            foreach (DrtInstance instance in instances)
            {
                datagrams += (await instance.GetSnapshotAsync(cancellationToken).ConfigureAwait(false)).DatagramsSent;
            }

            return tally.Report(settings, settled, settledRight, searched, datagrams, transports.Sum(t => t.Dropped));
        }
        finally
        {
            foreach (DrtInstance instance in instances)
            {
                await instance.CloseAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Waits (at most a minute) until every instance is Active and every key's leaf set is the true one: its nearest
    /// registered keys on each side, as the sorted set of all keys says.
    /// </summary>
    private static async Task<bool> SettleAsync(List<DrtInstance> instances, Key256[] ring, TextWriter progress, Stopwatch clock, CancellationToken cancellationToken)
    {
        int side = Math.Min(new DrtSettings().LeafSetSide, (ring.Length - 1) / 2);
        for (int round = 0; round < 240; round++)
        {
            int active = 0;
            int right = 0;
            foreach (DrtInstance instance in instances)
            {
                DrtSnapshot snapshot = await instance.GetSnapshotAsync(cancellationToken).ConfigureAwait(false);
                active += snapshot.Status == DrtStatus.Active ? 1 : 0;
                foreach (DrtRegistrationSnapshot registration in snapshot.Registrations)
                {
                    right += !registration.Joining && IsTrue(registration, ring, side) ? 1 : 0;
                }
            }

            Progress(progress, $"joining: {active}/{instances.Count} active, {right}/{ring.Length} leaf sets right, {clock.Elapsed.TotalSeconds:0.0} s");
            if (active == instances.Count && right == ring.Length)
            {
                await progress.WriteLineAsync().ConfigureAwait(false);
                return true;
            }

            await Task.Delay(250, cancellationToken).ConfigureAwait(false);
        }

        await progress.WriteLineAsync().ConfigureAwait(false);
        await progress.WriteLineAsync("drt demo: the leaf sets were not all right within a minute; searching anyway").ConfigureAwait(false);
        return false;
    }

    /// <summary>Whether a registration's leaf set holds exactly its <paramref name="side"/> nearest keys each way (at least).</summary>
    private static bool IsTrue(DrtRegistrationSnapshot registration, Key256[] ring, int side)
    {
        int at = Array.BinarySearch(ring, registration.Key);
        if (registration.Smaller.Count < side || registration.Larger.Count < side)
        {
            return false;
        }

        for (int i = 0; i < side; i++)
        {
            if (registration.Smaller[i] != ring[(at - 1 - i + ring.Length) % ring.Length] || registration.Larger[i] != ring[(at + 1 + i) % ring.Length])
            {
                return false;
            }
        }

        return true;
    }

    private static async Task SearchOneAsync(DrtInstance from, Key256 target, bool exact, Key256[] ring, SortedDictionary<Key256, byte[]> registered, DemoTally tally, SemaphoreSlim throttle, CancellationToken cancellationToken)
    {
        try
        {
            var options = exact
                ? new DrtSearchOptions { AllowLocalMatch = true }
                : new DrtSearchOptions { MinKey = Key256.Zero, MaxKey = Key256.MaxValue, AllowLocalMatch = true };
            Key256 expected = exact ? target : Nearest(ring, target);
            long started = Stopwatch.GetTimestamp();
            DrtSearchResult? first = null;
            DrtSearch search = await from.SearchAsync(target, options, cancellationToken).ConfigureAwait(false);
            await foreach (DrtSearchResult result in search.WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                first ??= result;
            }

            TimeSpan latency = Stopwatch.GetElapsedTime(started);
            if (first is null)
            {
                tally.Add(found: false, wrong: false, 0, latency);
            }
            else
            {
                bool right = first.Key == expected && first.AppData.Span.SequenceEqual(registered[expected]);
                tally.Add(found: true, wrong: !right, first.Hops, latency);
            }
        }
        finally
        {
            throttle.Release();
        }
    }

    /// <summary>The registered key closest to <paramref name="target"/> on the ring (ties: the one clockwise of it).</summary>
    private static Key256 Nearest(Key256[] sorted, Key256 target)
    {
        int at = Array.BinarySearch(sorted, target);
        if (at >= 0)
        {
            return sorted[at];
        }

        at = ~at;
        Key256 above = sorted[at % sorted.Length];
        Key256 below = sorted[(at - 1 + sorted.Length) % sorted.Length];
        return Key256.CompareCloseness(target, above, below) <= 0 ? above : below;
    }

    private static void Progress(TextWriter progress, string line) => progress.Write($"\r{line,-78}");

    private static void Range(System.CommandLine.Parsing.OptionResult result, int value, int min, int max, string name)
    {
        if (value < min || value > max)
        {
            result.AddError($"{name} must be in {min}..{max}");
        }
    }

    private static void Print(DemoReport r, DemoSettings s, Output output)
    {
        if (output.Json)
        {
            output.WriteJson(w =>
            {
                w.WriteNumber("nodes", s.Nodes);
                w.WriteNumber("keys", s.Keys);
                w.WriteNumber("searches", r.Searches);
                w.WriteNumber("loss", s.Loss);
                w.WriteNumber("succeeded", r.Succeeded);
                w.WriteNumber("success_rate", Math.Round(r.SuccessRate, 6));
                w.WriteNumber("wrong", r.Wrong);
                w.WriteNumber("not_found", r.NotFound);
                w.WriteNumber("mean_hops", Math.Round(r.MeanHops, 3));
                w.WriteNumber("p99_hops", r.P99Hops);
                w.WriteNumber("latency_p50_ms", Math.Round(r.LatencyP50.TotalMilliseconds, 3));
                w.WriteNumber("latency_p99_ms", Math.Round(r.LatencyP99.TotalMilliseconds, 3));
                w.WriteNumber("searches_per_s", Math.Round(r.SearchesPerSecond, 1));
                w.WriteNumber("datagrams_sent", r.DatagramsSent);
                w.WriteNumber("datagrams_lost", r.DatagramsLost);
                w.WriteNumber("settle_s", Math.Round(r.Settle.TotalSeconds, 2));
                w.WriteBoolean("leaf_sets_right", r.LeafSetsRight);
            });
            return;
        }

        CultureInfo c = CultureInfo.InvariantCulture;
        output.Table(
            ["MEASURE", "VALUE"],
            [
                ["mesh", $"{s.Nodes} instances on loopback UDP, {s.Keys} keys, loss {s.Loss:0.###}"],
                ["every leaf set true", r.LeafSetsRight ? $"yes, after {r.Settle.TotalSeconds.ToString("0.0", c)} s" : $"no, still settling after {r.Settle.TotalSeconds.ToString("0.0", c)} s"],
                ["searches", $"{r.Searches} ({r.Searches - r.Searches / 10} exact, {r.Searches / 10} nearest), {InFlight} in flight"],
                ["success", $"{r.Succeeded}/{r.Searches} ({(r.SuccessRate * 100).ToString("0.00", c)}%)"],
                ["wrong answers", r.Wrong.ToString(c)],
                ["not found", r.NotFound.ToString(c)],
                ["hops mean / p99", $"{r.MeanHops.ToString("0.00", c)} / {r.P99Hops}"],
                ["latency p50 / p99", $"{r.LatencyP50.TotalMilliseconds.ToString("0.00", c)} ms / {r.LatencyP99.TotalMilliseconds.ToString("0.00", c)} ms"],
                ["throughput", $"{r.SearchesPerSecond.ToString("0", c)} searches/s"],
                ["datagrams sent", $"{r.DatagramsSent} ({r.DatagramsLost} lost on purpose)"],
            ]);
    }
}

/// <summary>What <c>drt demo</c> runs.</summary>
internal sealed record DemoSettings(int Nodes, int Keys, int Searches, double Loss, int Seed);

/// <summary>What <c>drt demo</c> measured.</summary>
internal sealed record DemoReport(int Searches, int Succeeded, int Wrong, int NotFound, double MeanHops, int P99Hops, TimeSpan LatencyP50, TimeSpan LatencyP99, TimeSpan Settle, bool LeafSetsRight, double SearchesPerSecond, long DatagramsSent, long DatagramsLost)
{
    public double SuccessRate => Searches == 0 ? 1 : (double)(Succeeded - Wrong) / Searches;
}

/// <summary>Counts the searches' outcomes (thread-safe: searches end on pool threads).</summary>
internal sealed class DemoTally
{
    private readonly Lock _gate = new();
    private readonly List<int> _hops = [];
    private readonly List<TimeSpan> _latencies = [];
    private int _done;
    private int _succeeded;
    private int _wrong;

    public int Done => Volatile.Read(ref _done);

    public int Succeeded => Volatile.Read(ref _succeeded);

    public int Wrong => Volatile.Read(ref _wrong);

    public void Add(bool found, bool wrong, int hops, TimeSpan latency)
    {
        lock (_gate)
        {
            _done++;
            _latencies.Add(latency);
            if (found)
            {
                _succeeded++;
                _hops.Add(hops);
            }

            if (wrong)
            {
                _wrong++;
            }
        }
    }

    public DemoReport Report(DemoSettings settings, TimeSpan settle, bool leafSetsRight, TimeSpan searching, long datagrams, long lost)
    {
        lock (_gate)
        {
            _hops.Sort();
            _latencies.Sort();
            return new DemoReport(
                _done,
                _succeeded,
                _wrong,
                _done - _succeeded,
                _hops.Count == 0 ? 0 : _hops.Average(),
                Percentile(_hops, 0.99),
                Percentile(_latencies, 0.50),
                Percentile(_latencies, 0.99),
                settle,
                leafSetsRight,
                searching.TotalSeconds > 0 ? _done / searching.TotalSeconds : 0,
                datagrams,
                lost);
        }

        static T Percentile<T>(List<T> sorted, double p) where T : struct =>
            sorted.Count == 0 ? default : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
    }
}
