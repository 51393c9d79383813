using System.Collections.Concurrent;
using Drt.Node.Cli;
using Drt.Node.Node;
using Drt.Overlay;
using Drt.Overlay.Wire;

namespace Drt.Node.Control;

/// <summary>Carries out control requests on a node's <see cref="DrtInstance"/>; every failure becomes an error response.</summary>
internal sealed class ControlHandler(DrtInstance instance)
{
    private readonly ConcurrentDictionary<Key256, DrtRegistration> _registrations = new();

    /// <summary>The registrations made through this handler (and at start-up), by key.</summary>
    public ConcurrentDictionary<Key256, DrtRegistration> Registrations => _registrations;

    /// <summary>Registers <paramref name="key"/> and remembers the registration for update and unregister.</summary>
    public async Task RegisterAsync(Key256 key, byte[] data, CancellationToken cancellationToken)
    {
        DrtRegistration registration = await instance.RegisterKeyAsync(key, data, cancellationToken).ConfigureAwait(false);
        _registrations[key] = registration;
    }

    /// <summary>Registers the key this node's identity owns for <paramref name="classifier"/> (secure modes); returns it.</summary>
    public async Task<Key256> RegisterDerivedAsync(string classifier, byte[] data, CancellationToken cancellationToken)
    {
        DrtRegistration registration = await instance.RegisterDerivedKeyAsync(classifier, data, cancellationToken).ConfigureAwait(false);
        _registrations[registration.Key] = registration;
        return registration.Key;
    }

    /// <summary>Answers one request.</summary>
    public async Task<ControlResponse> HandleAsync(ControlRequest request, CancellationToken cancellationToken)
    {
        try
        {
            return request.Op switch
            {
                "register" => await RegisterAsync(request, cancellationToken).ConfigureAwait(false),
                "update" => await UpdateAsync(request, cancellationToken).ConfigureAwait(false),
                "unregister" => await UnregisterAsync(request).ConfigureAwait(false),
                "search" => await SearchAsync(request, cancellationToken).ConfigureAwait(false),
                "status" => new ControlResponse { Ok = true, Status = Describe(await instance.GetSnapshotAsync(cancellationToken).ConfigureAwait(false)) },
                "route" => await RouteAsync(request, cancellationToken).ConfigureAwait(false),
                _ => ControlResponse.Failure("BadRequest", $"unknown op '{request.Op}'; the ops are register, update, unregister, search, status, route"),
            };
        }
        catch (DrtException error)
        {
            return ControlResponse.Failure(error.Error.ToString(), error.Message);
        }
        catch (UsageException error)
        {
            return ControlResponse.Failure("BadRequest", error.Message);
        }
    }

    /// <summary>The status as the control socket and the CLI show it.</summary>
    public static ControlStatus Describe(DrtSnapshot snapshot) => new()
    {
        State = StateName(snapshot.Status),
        Name = snapshot.InstanceName,
        Endpoints = [.. snapshot.LocalEndpoints.Select(Parsing.Format)],
        Registrations = [.. snapshot.Registrations.Select(r => new ControlRegistration
        {
            Key = r.Key.ToString(),
            Smaller = [.. r.Smaller.Select(k => k.ToString())],
            Larger = [.. r.Larger.Select(k => k.ToString())],
        })],
        RoutingEntries = snapshot.RoutingTableEntries,
        KnownPeers = snapshot.KnownPeers,
        EstimatedNetworkSize = Math.Round(snapshot.EstimatedNetworkSize, 1),
    };

    /// <summary>A status as the CLI's JSON names it.</summary>
    public static string StateName(DrtStatus status) => status switch
    {
        DrtStatus.Active => "active",
        DrtStatus.Alone => "alone",
        DrtStatus.NoNetwork => "no_network",
        _ => "faulted",
    };

    /// <summary>A search result as the control socket carries it.</summary>
    public static ControlSearchResult Describe(DrtSearchResult result) => new()
    {
        Match = result.Match switch { DrtMatch.Exact => "exact", DrtMatch.Near => "near", _ => "intermediate" },
        Key = result.Key.ToString(),
        Data = result.AppData.ToArray(),
        Endpoints = [.. result.Endpoints.Select(Parsing.Format)],
        Hops = result.Hops,
    };

    private async Task<ControlResponse> RegisterAsync(ControlRequest request, CancellationToken cancellationToken)
    {
        if (request.Classifier is { } classifier)
        {
            return new ControlResponse { Ok = true, Key = (await RegisterDerivedAsync(classifier, request.Data ?? [], cancellationToken).ConfigureAwait(false)).ToString() };
        }

        Key256 key = KeyOf(request);
        await RegisterAsync(key, request.Data ?? [], cancellationToken).ConfigureAwait(false);
        return new ControlResponse { Ok = true, Key = key.ToString() };
    }

    private async Task<ControlResponse> UpdateAsync(ControlRequest request, CancellationToken cancellationToken)
    {
        Key256 key = KeyOf(request);
        if (!_registrations.TryGetValue(key, out DrtRegistration? registration))
        {
            return NotRegistered(key);
        }

        await registration.UpdateAsync(request.Data ?? [], cancellationToken).ConfigureAwait(false);
        return new ControlResponse { Ok = true, Key = key.ToString() };
    }

    private async Task<ControlResponse> UnregisterAsync(ControlRequest request)
    {
        Key256 key = KeyOf(request);
        if (!_registrations.TryRemove(key, out DrtRegistration? registration))
        {
            return NotRegistered(key);
        }

        await registration.UnregisterAsync().ConfigureAwait(false);
        return new ControlResponse { Ok = true, Key = key.ToString() };
    }

    private async Task<ControlResponse> SearchAsync(ControlRequest request, CancellationToken cancellationToken)
    {
        var spec = new SearchSpec(
            KeyOf(request),
            request.Nearest,
            request.Min is null ? null : Parsing.Key(request.Min, "min"),
            request.Max is null ? null : Parsing.Key(request.Max, "max"),
            request.MaxResults,
            request.AnyInRange,
            request.IncludeLocal,
            request.Iterative,
            request.TimeoutMs > 0 ? TimeSpan.FromMilliseconds(request.TimeoutMs) : null);
        (List<DrtSearchResult> results, bool timedOut) = await Searches.RunAsync(instance, spec, cancellationToken).ConfigureAwait(false);
        return new ControlResponse { Ok = true, Results = [.. results.Select(Describe)], TimedOut = timedOut };
    }

    private async Task<ControlResponse> RouteAsync(ControlRequest request, CancellationToken cancellationToken)
    {
        DrtRouteOutcome outcome = await instance.RouteAsync(KeyOf(request), request.Data ?? [], cancellationToken).ConfigureAwait(false);
        return new ControlResponse { Ok = true, Outcome = outcome.ToString().ToLowerInvariant() };
    }

    private static Key256 KeyOf(ControlRequest request) =>
        request.Key is { } text ? Parsing.Key(text, "key") : throw new UsageException($"{request.Op} needs a key");

    private static ControlResponse NotRegistered(Key256 key) =>
        ControlResponse.Failure("NotRegistered", $"key {key} is not registered by this node; register it first");
}
