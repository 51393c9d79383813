using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Drt.Overlay.Simulation;

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
        var routes = new Option<int>("--routes") { Description = "Messages routed recursively to random targets after the searches, each checked against the oracle.", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object at the end instead of text." };
        nodes.Validators.Add(r => Check(r.GetValueOrDefault<int>() is >= 2 and <= 5000, r, "--nodes must be in 2..5000"));
        searches.Validators.Add(r => Check(r.GetValueOrDefault<int>() is >= 0 and <= 1_000_000, r, "--searches must be in 0..1000000"));
        loss.Validators.Add(r => Check(r.GetValueOrDefault<double>() is >= 0 and <= 0.5, r, "--loss must be in 0..0.5"));
        routes.Validators.Add(r => Check(r.GetValueOrDefault<int>() is >= 0 and <= 1_000_000, r, "--routes must be in 0..1000000"));
        crash.Validators.Add(r => Check(r.GetValueOrDefault<double>() is >= 0 and <= 0.9, r, "--crash-fraction must be in 0..0.9"));

        var root = new RootCommand("Runs a Drt.Overlay ring on the simulated network and checks searches against the oracle.")
        {
            nodes, searches, seed, loss, crash, routes, json,
        };
        root.SetAction(parse =>
        {
            var settings = new ExperimentSettings(parse.GetValue(nodes), parse.GetValue(searches), parse.GetValue(seed), parse.GetValue(loss), parse.GetValue(crash), parse.GetValue(routes));
            ExperimentReport report = RingExperiment.Run(settings, parse.GetValue(json) ? null : Console.Out);
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

    private static void WriteJson(ExperimentSettings settings, ExperimentReport report)
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
        writer.WriteStartArray("hops_histogram");
        foreach (int count in report.HopHistogram)
        {
            writer.WriteNumberValue(count);
        }

        writer.WriteEndArray();
        if (report.Routes.Total > 0)
        {
            writer.WriteNumber("routes", report.Routes.Total);
            writer.WriteNumber("route_success_rate", Math.Round(report.RouteSuccessRate, 6));
            writer.WriteNumber("route_elsewhere", report.Routes.Elsewhere);
            writer.WriteNumber("route_twice", report.Routes.Twice);
            writer.WriteNumber("route_lost", report.Routes.Lost);
            writer.WriteNumber("route_mean_hops", Math.Round(report.MeanRouteHops, 3));
            writer.WriteNumber("route_p99_hops", RouteTally.Percentile99(report.Routes.Hops));
        }

        writer.WriteNumber("leaf_sets_wrong", report.WrongLeafSets);
        writer.WriteNumber("maint_msgs_per_node_s", Math.Round(report.MaintMessages, 4));
        writer.WriteNumber("maint_bytes_per_node_s", Math.Round(report.MaintBytes, 1));
        writer.WriteNumber("virtual_s", Math.Round(report.VirtualSeconds, 1));
        writer.WriteNumber("wall_s", Math.Round(report.WallSeconds, 2));
        writer.WriteEndObject();
        writer.Flush();
        stream.WriteByte((byte)'\n');
    }

    static Program() => CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
}
