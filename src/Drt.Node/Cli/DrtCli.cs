using System.CommandLine;
using System.Globalization;
using System.Text;
using Drt.Node.Control;
using Drt.Node.Demo;
using Drt.Node.Node;
using Drt.Overlay;
using Drt.Overlay.Bootstrap;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging;

namespace Drt.Node.Cli;

/// <summary>
/// The drt command line (System.CommandLine). Every failure ends as one readable line on stderr and an exit code from
/// <see cref="ExitCodes"/>; parse errors are usage errors (2).
/// </summary>
internal static class DrtCli
{
    /// <summary>Parses <paramref name="args"/>, runs the command, and returns the exit code.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        RootCommand root = Build(stdout, stderr);
        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            string command = parse.CommandResult.Command == root ? "drt" : $"drt {parse.CommandResult.Command.Name}";
            await stderr.WriteLineAsync($"drt: {parse.Errors[0].Message} (see '{command} --help')").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        try
        {
            // Signals are the command's business: drt node closes gracefully through the host; one-shot commands stop.
            return await parse.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr, ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false }).ConfigureAwait(false);
        }
        catch (Exception error) when (Classify(error) is (int code, string line))
        {
            await stderr.WriteLineAsync($"drt: {line}").ConfigureAwait(false);
            return code;
        }
    }

    /// <summary>The exit code and the one stderr line for a failure the user can act on; null for a bug (it propagates).</summary>
    private static (int Code, string Line)? Classify(Exception error) => error switch
    {
        UsageException => (ExitCodes.Usage, error.Message),
        NodeUnreachableException => (ExitCodes.NodeUnreachable, error.Message),
        DrtException drt => (ExitCodes.Failed, $"{drt.Error}: {drt.Message}"),
        NodeRefusedException => (ExitCodes.Failed, error.Message),
        IOException or UnauthorizedAccessException => (ExitCodes.FileProblem, error.Message),
        OperationCanceledException => (ExitCodes.Interrupted, "interrupted"),
        _ => null,
    };

    private static RootCommand Build(TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("drt: a Drt.Overlay peer (drt node) and the commands that talk to it. Exit codes: 0 ok, 1 nothing found, 2 usage, 3 no node, 4 failed, 5 file problem.")
        {
            NodeCommand(),
            KeyCommand("register", "Registers KEY with --data on the running node.", needsData: true, stdout),
            KeyCommand("update", "Replaces the data of KEY, registered on the running node.", needsData: true, stdout),
            KeyCommand("unregister", "Unregisters KEY from the running node (its neighbours are told).", needsData: false, stdout),
            KeyCommand("route", "Routes --data to the node whose key is closest to KEY (key-based routing).", needsData: true, stdout),
            SearchCommand(stdout),
            StatusCommand(stdout),
            DemoCommand.Create(stdout, stderr),
            KeyCommands.Keygen(stdout),
            KeyCommands.Root(stdout),
            KeyCommands.Credential(stdout),
            KeyCommands.Derive(stdout),
        };
        return root;
    }

    private static Command NodeCommand()
    {
        var config = new Option<FileInfo?>("--config") { Description = "A JSON configuration file (keys as in docs/cli.md); DRT_ environment variables override it, flags override both." };
        var port = new Option<int?>("--port") { Description = "UDP port (default 3540; 0 picks a free one)." };
        var bind = new Option<string[]>("--bind") { Description = "An address to bind and advertise (default :: dual-stack, every address); repeatable, up to 8 specific addresses on one port." };
        var bootstrap = new Option<string[]>("--bootstrap") { Description = "Where the ring is: host:port, [v6]:port or a DNS name:port; repeatable.", AllowMultipleArgumentsPerToken = false };
        var networkId = new Option<uint?>("--network-id") { Description = "The overlay's network id (nodes with other ids ignore each other)." };
        var security = new Option<string?>("--security") { Description = "Security mode: none, resolve, membership or confidential." };
        var identity = new Option<string?>("--identity") { Description = "The identity file (default DATA_DIR/identity.pem; created with mode 0600 if missing)." };
        var credential = new Option<string?>("--credential") { Description = "Membership/confidential: this node's credential (drt credential issue)." };
        var rootKey = new Option<string?>("--root-key") { Description = "Membership/confidential: the root's public key (64 hex digits in a file, or the root key file)." };
        var dataDir = new Option<string?>("--data-dir") { Description = "Peer cache and control socket (default $DRT_DATA_DIR or ~/.local/share/drt)." };
        var control = new Option<string?>("--control") { Description = "The control socket's path (default DATA_DIR/control.sock)." };
        var register = new Option<string[]>("--register") { Description = "A key (64 hex digits) to register at start, or in a secure mode a classifier; repeatable." };
        var data = new Option<string?>("--data") { Description = "The data registered with the --register keys (UTF-8 text)." };
        var name = new Option<string?>("--name") { Description = "The instance name (logs, metrics)." };
        var period = new Option<int?>("--maintenance-ms") { Description = "Maintenance period in milliseconds (default 30000)." };
        var metricsPort = new Option<int?>("--metrics-port") { Description = "Serve Prometheus text at http://127.0.0.1:PORT/metrics." };
        var command = new Command("node", "Runs a peer in the foreground until SIGINT or SIGTERM, then closes gracefully (unregisters, saves the peer cache).")
        {
            config, port, bind, bootstrap, networkId, security, identity, credential, rootKey, dataDir, control, register, data, name, period, metricsPort,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var flags = new Dictionary<string, string?>();
            void Flag(string key, object? value)
            {
                if (value is not null)
                {
                    flags[key] = Convert.ToString(value, CultureInfo.InvariantCulture);
                }
            }

            Flag("Port", parse.GetValue(port));
            Flag("NetworkId", parse.GetValue(networkId));
            Flag("Security", parse.GetValue(security));
            Flag("Identity", parse.GetValue(identity));
            Flag("Credential", parse.GetValue(credential));
            Flag("RootKey", parse.GetValue(rootKey));
            Flag("DataDir", parse.GetValue(dataDir));
            Flag("Control", parse.GetValue(control));
            Flag("Data", parse.GetValue(data));
            Flag("Name", parse.GetValue(name));
            Flag("MaintenancePeriodMs", parse.GetValue(period));
            Flag("MetricsPort", parse.GetValue(metricsPort));
            return await RunNodeAsync(parse.GetValue(config), flags, parse.GetValue(bind) ?? [], parse.GetValue(bootstrap) ?? [], parse.GetValue(register) ?? [], cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>
    /// Runs the node with <paramref name="flags"/> over the configuration; the list flags (<paramref name="binds"/>,
    /// <paramref name="bootstraps"/>, <paramref name="registers"/>), when given, replace the configured lists rather than
    /// merging index by index.
    /// </summary>
    private static async Task<int> RunNodeAsync(FileInfo? config, Dictionary<string, string?> flags, string[] binds, string[] bootstraps, string[] registers, CancellationToken cancellationToken)
    {
        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        if (config is not null)
        {
            if (!config.Exists)
            {
                throw new UsageException($"--config {config.FullName} does not exist");
            }

            builder.Configuration.AddJsonFile(config.FullName, optional: false);
        }

        builder.Configuration.AddEnvironmentVariables("DRT_");
        builder.Configuration.AddInMemoryCollection(flags);
        NodeOptions options = NodeOptions.From(builder.Configuration);
        if (binds.Length > 0)
        {
            options.Bind = [.. binds];
        }

        if (bootstraps.Length > 0)
        {
            options.Bootstrap = [.. bootstraps];
        }

        if (registers.Length > 0)
        {
            options.Register = [.. registers];
        }

        options.Validate();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None); // a start-up failure is our one drt: line
        builder.Services.AddSingleton(options);
        builder.Services.AddHostedService<NodeService>();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(20));
        builder.Services.AddSingleton<IHostLifetime, ConsoleLifetime>();
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        using IHost host = builder.Build();
        await host.RunAsync(cancellationToken).ConfigureAwait(false);
        return ExitCodes.Success;
    }

    private static Command KeyCommand(string name, string description, bool needsData, TextWriter stdout)
    {
        var key = new Argument<string?>("KEY") { Description = "The key: 64 hexadecimal digits.", Arity = name == "register" ? ArgumentArity.ZeroOrOne : ArgumentArity.ExactlyOne };
        var classifier = new Option<string?>("--classifier") { Description = "Secure modes: register the key the node's identity owns for this classifier, instead of KEY." };
        var data = new Option<string?>("--data") { Description = "The data, as UTF-8 text." };
        var dataFile = new Option<FileInfo?>("--data-file") { Description = "The data, read from a file (binary)." };
        var (control, dataDir, json) = ClientOptions();
        var command = new Command(name, description) { key, control, dataDir, json };
        if (needsData)
        {
            command.Options.Add(data);
            command.Options.Add(dataFile);
        }

        if (name == "register")
        {
            command.Options.Add(classifier);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            string? keyText = parse.GetValue(key);
            string? classifierText = name == "register" ? parse.GetValue(classifier) : null;
            if ((keyText is null) == (classifierText is null))
            {
                throw new UsageException(name == "register" ? "register needs KEY (64 hex digits) or --classifier NAME, one of them" : $"{name} needs KEY");
            }

            var request = new ControlRequest { Op = name, Key = keyText is null ? null : Parsing.Key(keyText, "KEY").ToString(), Classifier = classifierText };
            if (needsData)
            {
                request.Data = DataOf(parse.GetValue(data), parse.GetValue(dataFile), name);
            }

            ControlResponse response = await SendAsync(parse, control, dataDir, request, cancellationToken).ConfigureAwait(false);
            new Output(stdout, parse.GetValue(json)).Done(name switch { "route" => "routed", "update" => "updated", _ => name + "ed" }, response.Key ?? request.Key!, response.Outcome);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command SearchCommand(TextWriter stdout)
    {
        var key = new Argument<string>("KEY") { Description = "The target key: 64 hexadecimal digits." };
        var nearest = new Option<bool>("--nearest") { Description = "The registered key nearest KEY (within --min/--max, else the whole ring)." };
        var min = new Option<string?>("--min") { Description = "The range's low end (64 hex digits); KEY must lie inside." };
        var max = new Option<string?>("--max") { Description = "The range's high end (64 hex digits)." };
        var maxResults = new Option<int>("--max-results") { Description = "The N nearest keys in the range, nearest first.", DefaultValueFactory = _ => 1 };
        var anyInRange = new Option<bool>("--any-in-range") { Description = "Any registered key in the range (one result)." };
        var includeLocal = new Option<bool>("--include-local") { Description = "The node's own keys may be results." };
        var iterative = new Option<bool>("--iterative") { Description = "One hop at a time; each hop prints as an intermediate result." };
        var timeout = new Option<int?>("--timeout") { Description = "Milliseconds the search may take (default 10000)." };
        var bootstrap = new Option<string[]>("--bootstrap") { Description = "Search without a daemon: a short-lived resolve-only instance joins through host:port (repeatable)." };
        var bind = new Option<string[]>("--bind") { Description = "With --bootstrap: an address the short-lived instance binds (default ::); repeatable." };
        maxResults.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 1 or > 20)
            {
                r.AddError("--max-results must be in 1..20");
            }
        });
        timeout.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is < 1 or > 600_000)
            {
                r.AddError("--timeout must be in 1..600000 milliseconds");
            }
        });
        var (control, dataDir, json) = ClientOptions();
        var command = new Command("search", "Searches for KEY (exact unless --nearest or a range) and prints the results; exit code 1 when nothing is found.")
        {
            key, nearest, min, max, maxResults, anyInRange, includeLocal, iterative, timeout, bootstrap, bind, control, dataDir, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            string? minText = parse.GetValue(min);
            string? maxText = parse.GetValue(max);
            var spec = new SearchSpec(
                Parsing.Key(parse.GetValue(key)!, "KEY"),
                parse.GetValue(nearest),
                minText is null ? null : Parsing.Key(minText, "--min"),
                maxText is null ? null : Parsing.Key(maxText, "--max"),
                parse.GetValue(maxResults),
                parse.GetValue(anyInRange),
                parse.GetValue(includeLocal),
                parse.GetValue(iterative),
                parse.GetValue(timeout) is int ms ? TimeSpan.FromMilliseconds(ms) : null);
            CheckRange(spec.Target, spec.Options());

            List<ControlSearchResult> results;
            bool timedOut;
            string[] bootstraps = parse.GetValue(bootstrap) ?? [];
            if (bootstraps.Length > 0)
            {
                (results, timedOut) = await SearchWithoutDaemonAsync(spec, bootstraps, parse.GetValue(bind) ?? [], cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var request = new ControlRequest
                {
                    Op = "search",
                    Key = spec.Target.ToString(),
                    Nearest = spec.Nearest,
                    Min = spec.Min?.ToString(),
                    Max = spec.Max?.ToString(),
                    MaxResults = spec.MaxResults,
                    AnyInRange = spec.AnyInRange,
                    IncludeLocal = spec.IncludeLocal,
                    Iterative = spec.Iterative,
                    TimeoutMs = (int)(spec.Timeout?.TotalMilliseconds ?? 0),
                };
                ControlResponse response = await SendAsync(parse, control, dataDir, request, cancellationToken).ConfigureAwait(false);
                (results, timedOut) = (response.Results ?? [], response.TimedOut);
            }

            new Output(stdout, parse.GetValue(json)).Results(results, timedOut);
            return results.Any(r => r.Match != "intermediate") ? ExitCodes.Success : ExitCodes.NotFound;
        });
        return command;
    }

    /// <summary>DRT's rules for a search's range, checked before anything is sent: a bad flag is a usage error.</summary>
    private static void CheckRange(Overlay.Wire.Key256 target, DrtSearchOptions options)
    {
        if (options.MinKey is { } low && options.MaxKey is { } high)
        {
            if (low > high)
            {
                throw new UsageException("--min is above --max; give the range's low end first");
            }

            if (target < low || target > high)
            {
                throw new UsageException($"KEY {target} lies outside [--min, --max]; the target must be inside the range");
            }
        }

        if (options.AnyMatchInRange && options.MaxResults > 1)
        {
            throw new UsageException("--any-in-range returns one result; drop --max-results");
        }
    }

    private static async Task<(List<ControlSearchResult>, bool)> SearchWithoutDaemonAsync(SearchSpec spec, string[] bootstraps, string[] binds, CancellationToken cancellationToken)
    {
        IBootstrapProvider[] providers = [.. bootstraps.Select(Parsing.Bootstrap)];
        var settings = new DrtSettings
        {
            InstanceName = "drt-search",
            BindAddresses = Parsing.BindAddresses(binds),
            BootstrapProvider = providers.Length == 1 ? providers[0] : new CompositeBootstrapProvider(providers),
        };
        await using DrtInstance instance = await DrtInstance.OpenAsync(settings, cancellationToken).ConfigureAwait(false);

        // Resolve-only: it searches once it has met the ring (bounded by the search's own timeout).
        TimeSpan limit = spec.Timeout ?? new DrtSearchOptions().Timeout;
        using (var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            waiting.CancelAfter(limit);
            try
            {
                while (instance.Status != DrtStatus.Active)
                {
                    await Task.Delay(50, waiting.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new DrtException(DrtError.Timeout, $"no answer from {string.Join(", ", bootstraps)} within {limit.TotalMilliseconds:0} ms; check the address and that a node runs there");
            }
        }

        (List<DrtSearchResult> results, bool timedOut) = await Searches.RunAsync(instance, spec, cancellationToken).ConfigureAwait(false);
        return ([.. results.Select(ControlHandler.Describe)], timedOut);
    }

    private static Command StatusCommand(TextWriter stdout)
    {
        var (control, dataDir, json) = ClientOptions();
        var command = new Command("status", "Shows the running node's state, endpoints, registrations with their leaf sets, and routing-table size.") { control, dataDir, json };
        command.SetAction(async (parse, cancellationToken) =>
        {
            ControlResponse response = await SendAsync(parse, control, dataDir, new ControlRequest { Op = "status" }, cancellationToken).ConfigureAwait(false);
            new Output(stdout, parse.GetValue(json)).Status(response.Status!);
            return ExitCodes.Success;
        });
        return command;
    }

    private static (Option<string?> Control, Option<string?> DataDir, Option<bool> Json) ClientOptions() =>
    (
        new Option<string?>("--control") { Description = "The node's control socket (default $DRT_CONTROL, else DATA_DIR/control.sock)." },
        new Option<string?>("--data-dir") { Description = "The node's data directory (default $DRT_DATA_DIR or ~/.local/share/drt)." },
        new Option<bool>("--json") { Description = "One JSON object per line instead of a table." }
    );

    /// <summary>Sends a request to the node the options name; a refusal becomes a <see cref="DrtException"/>-like failure line.</summary>
    private static async Task<ControlResponse> SendAsync(ParseResult parse, Option<string?> control, Option<string?> dataDir, ControlRequest request, CancellationToken cancellationToken)
    {
        string path = parse.GetValue(control)
            ?? (Environment.GetEnvironmentVariable("DRT_CONTROL") is { Length: > 0 } fromEnvironment ? fromEnvironment : null)
            ?? Path.Combine(parse.GetValue(dataDir) ?? NodeOptions.DefaultDataDir(), "control.sock");
        ControlResponse response = await ControlClient.SendAsync(path, request, cancellationToken).ConfigureAwait(false);
        if (!response.Ok)
        {
            throw response.ErrorCode == "BadRequest"
                ? new UsageException(response.Error ?? "the node refused the request")
                : new NodeRefusedException(response.ErrorCode ?? "Failed", response.Error ?? "the node refused the request");
        }

        return response;
    }

    private static byte[] DataOf(string? text, FileInfo? file, string command)
    {
        if (text is not null && file is not null)
        {
            throw new UsageException($"{command}: give --data or --data-file, not both");
        }

        if (file is not null)
        {
            return File.ReadAllBytes(file.FullName);
        }

        return text is not null ? Encoding.UTF8.GetBytes(text) : throw new UsageException($"{command} needs --data TEXT or --data-file FILE");
    }
}

/// <summary>The node answered with an error (DRT's error name and its message).</summary>
internal sealed class NodeRefusedException(string code, string message) : Exception($"{code}: {message}");
