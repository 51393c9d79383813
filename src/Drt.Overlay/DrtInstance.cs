using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Drt.Overlay.Bootstrap;
using Drt.Overlay.Engine;
using Drt.Overlay.Security;
using Drt.Overlay.Transport;
using Drt.Overlay.Wire;

namespace Drt.Overlay;

/// <summary>An instance's state (DRT_STATUS).</summary>
public enum DrtStatus
{
    /// <summary>Live peers known: registrations are published and searches go out.</summary>
    Active,

    /// <summary>No peer known yet (or any more): listening, and finding the ring again with backoff.</summary>
    Alone,

    /// <summary>Nothing can be sent; the instance recovers by itself when the network returns.</summary>
    NoNetwork,

    /// <summary>An unrecoverable error: every call fails with <see cref="DrtError.Faulted"/> until the instance is closed.</summary>
    Faulted,
}

/// <summary>
/// One node of the overlay (DRT's HDRT): it registers keys with application data and searches for the keys of others.
/// Thread-safe; every call runs on the instance's engine thread and its answer comes back as a task.
/// </summary>
public sealed class DrtInstance : IAsyncDisposable
{
    /// <summary>
    /// The name of the <see cref="System.Diagnostics.Metrics.Meter"/> every instance reports to, with the tag
    /// <c>drt.instance</c> set to its <see cref="InstanceName"/>: <c>dotnet-counters monitor --counters Drt.Overlay</c>,
    /// or <c>AddMeter(DrtInstance.MeterName)</c> in OpenTelemetry. docs/metrics.md lists the instruments.
    /// </summary>
    public const string MeterName = "Drt.Overlay";

    /// <summary>How many peers a provider hears about (<see cref="IBootstrapProvider.ReportPeersAsync"/>).</summary>
    private const int ReportedPeers = 16;

    private static readonly TimeSpan s_firstResolveBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan s_maxResolveBackoff = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_splitResolveInterval = TimeSpan.FromMinutes(10);

    private readonly IDatagramTransport _transport;
    private readonly DrtSettings _settings;
    private readonly List<DrtRegistration> _registrations = [];
    private readonly EventHub _events;
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _engineStopped = new();
    private readonly Channel<bool> _statusSignal = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private Task _supervisor = Task.CompletedTask;
    private volatile IReadOnlyList<IPEndPoint> _bootstrapEndpoints;
    private volatile string? _bootstrapProblem;
    private int _closed;

    private DrtInstance(DrtSettings settings, IDatagramTransport transport, Overlay.Engine.Engine engine, BootstrapResult bootstrap)
    {
        _settings = settings;
        _transport = transport;
        Engine = engine;
        _bootstrapEndpoints = bootstrap.Endpoints;
        _bootstrapProblem = bootstrap.Problem;
        _events = new EventHub(settings.EventQueueCapacity, Raise);
        Metrics = new DrtMetrics(settings.InstanceName, engine, (transport as UdpTransport)?.Counters, RegistrationCount);

        // Engine thread: each hook only queues an event, and never waits.
        engine.StatusChanged = (old, next) =>
        {
            _events.Publish(StatusEvent(StatusOf(next), StatusOf(old)));
            _statusSignal.Writer.TryWrite(true);
        };
        engine.RegistrationUnresolvable = key => _events.Publish(new DrtRegistrationStateChangedEvent(key, DrtRegistrationState.Unresolvable));
        engine.LeafSetChanged = change => _events.Publish(new DrtLeafSetKeyChangedEvent(
            change.LocalKey, change.RemoteKey, change.Added ? DrtLeafSetChange.Added : DrtLeafSetChange.Deleted, change.Endpoint is { } endpoint ? [endpoint] : []));

        // Membership modes: once this instance's own credential has expired no peer will talk to it, so none of its keys
        // can be resolved any more (DRT's registration state event).
        engine.CredentialExpired = () =>
        {
            foreach (LocalKey local in engine.Keys)
            {
                _events.Publish(new DrtRegistrationStateChangedEvent(local.Key, DrtRegistrationState.Unresolvable));
            }
        };

        // The payload is the receive buffer's: the event gets its own copy.
        engine.DeliverHandler = (in RoutedMessage message, Key256 root) => _events.Publish(new DrtMessageDeliveredEvent(
            message.Target, root, message.Origin.ToIPEndPoint(), message.Hops, message.Payload.ToArray()));
    }

    /// <summary>The instance's status changed; when it is Alone, with the bootstrap endpoints it is trying.</summary>
    public event EventHandler<DrtStatusChangedEvent>? StatusChanged;

    /// <summary>The leaf set of one of this instance's registered keys gained or lost a key.</summary>
    public event EventHandler<DrtLeafSetKeyChangedEvent>? LeafSetKeyChanged;

    /// <summary>A registration can no longer be resolved by others (its security provider cannot vouch for it).</summary>
    public event EventHandler<DrtRegistrationStateChangedEvent>? RegistrationStateChanged;

    /// <summary>
    /// A message routed with <see cref="RouteAsync"/> (by any instance) reached this instance as the root of its target
    /// key: the registered key numerically closest to it.
    /// </summary>
    public event EventHandler<DrtMessageDeliveredEvent>? MessageDelivered;

    /// <summary>The instance's name, from its settings.</summary>
    public string InstanceName => _settings.InstanceName;

    /// <summary>Where the instance receives: one endpoint per bound address, in the order of <see cref="DrtSettings.BindAddresses"/>.</summary>
    public IReadOnlyList<IPEndPoint> LocalEndpoints => _transport.LocalEndpoints;

    /// <summary>The instance's state now (after closing: the last one it had).</summary>
    public DrtStatus Status => StatusOf(Engine.Status);

    /// <summary>Events lost so far because a handler or a reader of <see cref="Events"/> fell behind.</summary>
    public long DroppedEvents => _events.Dropped;

    internal Overlay.Engine.Engine Engine { get; }

    /// <summary>The instance's clock (its settings').</summary>
    internal TimeProvider TimeProvider => _settings.TimeProvider;

    /// <summary>The instance's instruments; disposed when it closes.</summary>
    internal DrtMetrics Metrics { get; }

    /// <summary>Cancelled once the engine has stopped: commands no longer run, and searches end.</summary>
    internal CancellationToken EngineStopped => _engineStopped.Token;

    /// <summary>
    /// Opens an instance: validates <paramref name="settings"/>, asks the bootstrap provider where the ring is, binds the
    /// UDP socket and starts joining. It returns once the socket is open; the instance is Alone until it has found
    /// someone (or someone finds it). While it is Alone it asks the provider again, from every second to every minute,
    /// and reports what it tries in <see cref="StatusChanged"/>.
    /// </summary>
    public static async Task<DrtInstance> OpenAsync(DrtSettings settings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        BootstrapResult bootstrap = settings.BootstrapProvider is { } provider
            ? await provider.ResolveAsync(BootstrapPurpose.Join, settings.MaxBootstrapEndpoints, cancellationToken).ConfigureAwait(false)
            : new BootstrapResult([]);

        IDatagramTransport transport;
        try
        {
            transport = settings.Transport ?? new UdpTransport(settings.TransportOptions());
        }
        catch (SocketException error)
        {
            throw new DrtException(DrtError.TransportFailed, $"Could not bind UDP {string.Join(", ", settings.BindAddresses)} port {settings.Port}: {error.SocketErrorCode} ({error.Message}). Choose another port, or 0 for a free one.", error);
        }

        var engine = new Overlay.Engine.Engine(
            settings.EngineOptions(bootstrap.Endpoints), transport, settings.TimeProvider, settings.RandomSeed is { } seed ? new Random(seed) : new Random());
        var instance = new DrtInstance(settings, transport, engine, bootstrap);
        try
        {
            engine.Start();
        }
        catch (InvalidOperationException error) when (settings.Transport is not null)
        {
            await instance._events.CompleteAsync().ConfigureAwait(false);
            throw new DrtException(DrtError.InvalidSettings, $"Transport was already started or closed ({error.Message}); give the instance a new transport, which it starts itself.", error);
        }

        await instance.InvokeAsync(now =>
        {
            engine.Join(now);

            // The first event of every instance: where it starts, and what it tries.
            instance._events.Publish(instance.StatusEvent(instance.Status, instance.Status));
            return true;
        }).ConfigureAwait(false);
        instance._supervisor = Task.Run(() => instance.SuperviseAsync(instance._stopping.Token));
        return instance;
    }

    /// <summary>
    /// Every event from now on, in order, beginning with the current status: a stream that ends when the instance
    /// closes or <paramref name="cancellationToken"/> is cancelled. The subscription starts at this call, and its
    /// queue is bounded (<see cref="DrtSettings.EventQueueCapacity"/>): a reader that falls behind loses events and is
    /// told how many by a <see cref="DrtEventsDroppedEvent"/>; the instance itself never waits for a reader.
    /// </summary>
    public IAsyncEnumerable<DrtEvent> Events(CancellationToken cancellationToken = default) => _events.Subscribe(cancellationToken);

    /// <summary>
    /// Registers <paramref name="key"/> with <paramref name="appData"/> (1..5,120 bytes). Allowed while Active, Alone or
    /// NoNetwork; a key registered before the instance is Active is published once it is.
    /// </summary>
    /// <remarks>
    /// In security mode Resolve and up the key must be one this instance's identity owns under the empty classifier
    /// (<c>DeriveKey("")</c>, otherwise <see cref="DrtError.InvalidKey"/>); register by classifier with
    /// <see cref="RegisterDerivedKeyAsync"/>.
    /// </remarks>
    /// <exception cref="DrtException">
    /// InvalidKey: a secure mode, and the key is not derived from this instance's identity. DuplicateKey: this instance
    /// registered the key already. PayloadTooLarge: the data is empty or over 5,120 bytes.
    /// </exception>
    public Task<DrtRegistration> RegisterKeyAsync(Key256 key, ReadOnlyMemory<byte> appData, CancellationToken cancellationToken = default)
        => RegisterAsync(key, [], appData, cancellationToken);

    /// <summary>
    /// Registers the key this instance's identity owns under <paramref name="classifier"/> (a short application string,
    /// at most 256 bytes of UTF-8; see <see cref="DeriveKey"/>), with <paramref name="appData"/> (1..5,120 bytes). The
    /// classifier travels in the signed record, so every peer can check that the key belongs to the signer.
    /// </summary>
    /// <exception cref="DrtException">
    /// InvalidOperation: mode None (no identity to derive from). InvalidArgument: the classifier is null or too long.
    /// DuplicateKey: this instance registered that key already.
    /// </exception>
    public Task<DrtRegistration> RegisterDerivedKeyAsync(string classifier, ReadOnlyMemory<byte> appData, CancellationToken cancellationToken = default)
    {
        byte[] utf8 = CheckClassifier(classifier);
        return RegisterAsync(DeriveKey(classifier), utf8, appData, cancellationToken);
    }

    /// <summary>
    /// The key this instance's identity owns under <paramref name="classifier"/> (modes Resolve and up):
    /// SHA-256("drt.overlay/key/v1" ‖ public key ‖ classifier), as <see cref="DrtIdentity.DeriveKey"/>. One identity owns
    /// as many keys as it has classifiers.
    /// </summary>
    /// <exception cref="DrtException">
    /// InvalidOperation: mode None, whose provider has no identity. InvalidArgument: the classifier is null or longer
    /// than 256 bytes of UTF-8.
    /// </exception>
    public Key256 DeriveKey(string classifier)
    {
        CheckClassifier(classifier);
        ReadOnlyMemory<byte> publicKey = _settings.SecurityProvider.PublicKey;
        if (_settings.SecurityProvider.Mode == DrtSecurityMode.None || publicKey.Length != DrtIdentity.PublicKeyLength)
        {
            throw new DrtException(DrtError.InvalidOperation, $"Keys are derived from an identity, and this instance's security provider (mode {_settings.SecurityProvider.Mode}) has none; open it with a DerivedKeySecurityProvider, or register any key with RegisterKeyAsync(key, appData).");
        }

        return KeyDerivation.Derive(publicKey.Span, classifier);
    }

    private static byte[] CheckClassifier(string classifier)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        byte[] utf8 = System.Text.Encoding.UTF8.GetBytes(classifier);
        if (utf8.Length > Wire.Protocol.WireLimits.MaxClassifier)
        {
            throw new DrtException(DrtError.InvalidArgument, $"A classifier is at most {Wire.Protocol.WireLimits.MaxClassifier} bytes of UTF-8; this one is {utf8.Length}.");
        }

        return utf8;
    }

    private async Task<DrtRegistration> RegisterAsync(Key256 key, byte[] classifier, ReadOnlyMemory<byte> appData, CancellationToken cancellationToken)
    {
        byte[] data = CheckAppData(appData);
        ThrowIfClosed();

        // Cancellation counts only before the engine takes the key: a registration it made is always tracked, so that
        // closing unregisters it (the command itself takes microseconds on the engine thread).
        cancellationToken.ThrowIfCancellationRequested();
        await InvokeAsync(now => Engine.AddLocalKey(key, data, now, classifier)).ConfigureAwait(false);
        var registration = new DrtRegistration(this, key);
        lock (_registrations)
        {
            _registrations.Add(registration);
        }

        return registration;
    }

    /// <summary>
    /// Starts a search for <paramref name="target"/> (exact unless the options give a range); enumerate the returned
    /// search for its results.
    /// </summary>
    public async Task<DrtSearch> SearchAsync(Key256 target, DrtSearchOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new DrtSearchOptions();
        SearchRequest request = DrtSearch.Request(target, options);
        ThrowIfClosed();
        cancellationToken.ThrowIfCancellationRequested();
        var search = new DrtSearch(this, options);
        await InvokeAsync(now =>
        {
            search.Start(request, now);
            return true;
        }).ConfigureAwait(false);
        return search;
    }

    /// <summary>
    /// Routes <paramref name="payload"/> (at most <see cref="DrtSettings.MaxRoutePayloadSize"/> bytes) hop by hop to the
    /// root of <paramref name="key"/> — the instance whose registered key is numerically closest to it — which raises
    /// <see cref="MessageDelivered"/> (Pastry's route and deliver; beyond DRT). Each hop acknowledges the message and
    /// takes it on, retransmitting over another next hop when one does not answer; no instance delivers a message twice
    /// (under heavy loss one may, rarely, reach a second root as well). The task ends when the message has left this instance: delivered here or at the first hop, taken on
    /// by the first hop, or lost because no next hop answered.
    /// </summary>
    /// <exception cref="DrtException">
    /// <see cref="DrtError.PayloadTooLarge"/>; <see cref="DrtError.Busy"/> when too many messages are in flight;
    /// <see cref="DrtError.Closed"/> or <see cref="DrtError.Faulted"/>.
    /// </exception>
    public async Task<DrtRouteOutcome> RouteAsync(Key256 key, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        if (payload.Length > DrtSettings.MaxRoutePayloadSize)
        {
            throw new DrtException(DrtError.PayloadTooLarge, $"A routed payload must be at most {DrtSettings.MaxRoutePayloadSize} bytes; it was {payload.Length}. Send larger data directly to the root's endpoint.");
        }

        ThrowIfClosed();
        cancellationToken.ThrowIfCancellationRequested();
        var left = new TaskCompletionSource<DrtRouteOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        bool taken = await InvokeAsync(now => Engine.Route(key, channel: 0, payload.Span, now, result => left.TrySetResult(result switch
        {
            RouteResult.Delivered => DrtRouteOutcome.Delivered,
            RouteResult.Forwarded => DrtRouteOutcome.Forwarded,
            _ => DrtRouteOutcome.Unreachable,
        }))).ConfigureAwait(false);
        if (!taken)
        {
            throw new DrtException(DrtError.Busy, "Too many routed messages are in flight; wait for some to leave and route again.");
        }

        // A message still in flight when the instance closes never hears from its first hop.
        using CancellationTokenRegistration closed = EngineStopped.Register(() => left.TrySetResult(DrtRouteOutcome.Unreachable));
        return await left.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>What the instance is and knows now: status, endpoints, each registration's leaf set, table sizes, traffic.</summary>
    public Task<DrtSnapshot> GetSnapshotAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfClosed();
        cancellationToken.ThrowIfCancellationRequested();
        return InvokeAsync(_ =>
        {
            var registrations = new List<DrtRegistrationSnapshot>(Engine.Keys.Count);
            int routes = 0;
            foreach (LocalKey local in Engine.Keys)
            {
                routes += local.Routes.Count;
                registrations.Add(new DrtRegistrationSnapshot(local.Key, (byte[])local.AppData.Clone(), KeysOf(local.LeafSet.Smaller), KeysOf(local.LeafSet.Larger), Joining: !local.Placed || local.Joining));
            }

            registrations.Sort((a, b) => a.Key.CompareTo(b.Key));
            return new DrtSnapshot(InstanceName, Status, LocalEndpoints, registrations, routes, Engine.KnownPeers, Engine.EstimatedNetworkSize, Engine.Counters.Sent, Engine.Counters.Received);
        });

        static Key256[] KeysOf(ReadOnlySpan<Routing.NodeRef> nodes)
        {
            var keys = new Key256[nodes.Length];
            for (int i = 0; i < keys.Length; i++)
            {
                keys[i] = nodes[i].Key;
            }

            return keys;
        }
    }

    /// <summary>Unregisters every key (their neighbours are told) and closes the socket. Idempotent.</summary>
    public async Task CloseAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        DrtRegistration[] registrations;
        lock (_registrations)
        {
            registrations = [.. _registrations];
            _registrations.Clear();
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await _supervisor.ConfigureAwait(false);
        if (Engine.Status != EngineStatus.Faulted)
        {
            // The peers that answered go to the provider before the keys (and so the leaf sets) are gone.
            await ReportPeersAsync(evenIfClosed: true).ConfigureAwait(false);
            await InvokeAsync(now =>
            {
                foreach (DrtRegistration registration in registrations)
                {
                    registration.MarkUnregistered();
                    Engine.RemoveLocalKey(registration.Key, now);
                }

                return true;
            }, evenIfClosed: true).ConfigureAwait(false);
        }

        await Engine.StopAsync().ConfigureAwait(false);
        await _engineStopped.CancelAsync().ConfigureAwait(false);
        Metrics.Dispose(); // a closed instance reports nothing: its instruments end with it
        if (_settings.BootstrapProvider is { } provider)
        {
            await provider.UnregisterAsync(CancellationToken.None).ConfigureAwait(false);
        }

        await _events.CompleteAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync() => await CloseAsync().ConfigureAwait(false);

    /// <summary>Runs <paramref name="command"/> on the engine thread; its result or exception comes back as a task.</summary>
    internal Task<T> InvokeAsync<T>(Func<long, T> command, bool evenIfClosed = false)
    {
        if (!evenIfClosed)
        {
            ThrowIfClosed();
        }

        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);

        // A command the engine never runs (it stopped first) fails as closed rather than waiting for ever.
        CancellationTokenRegistration stopped = _engineStopped.Token.Register(() => done.TrySetException(
            new DrtException(DrtError.Closed, $"The instance {InstanceName} closed before the call ran; open a new one.")));
        Engine.Post(now =>
        {
            stopped.Dispose();
            try
            {
                done.TrySetResult(command(now));
            }
            catch (Exception error)
            {
                done.TrySetException(error);
            }
        });
        return done.Task;
    }

    internal static DrtStatus StatusOf(EngineStatus status) => status switch
    {
        EngineStatus.Active => DrtStatus.Active,
        EngineStatus.NoNetwork => DrtStatus.NoNetwork,
        EngineStatus.Faulted => DrtStatus.Faulted,
        _ => DrtStatus.Alone,
    };

    private DrtStatusChangedEvent StatusEvent(DrtStatus status, DrtStatus previous) => status == DrtStatus.Alone
        ? new DrtStatusChangedEvent(status, previous, _bootstrapEndpoints, _bootstrapProblem)
        : new DrtStatusChangedEvent(status, previous, [], null);

    /// <summary>Raises the .NET event for <paramref name="drtEvent"/> (the event hub's dispatcher thread).</summary>
    private void Raise(DrtEvent drtEvent)
    {
        switch (drtEvent)
        {
            case DrtStatusChangedEvent status:
                StatusChanged?.Invoke(this, status);
                break;
            case DrtLeafSetKeyChangedEvent leafSet:
                LeafSetKeyChanged?.Invoke(this, leafSet);
                break;
            case DrtRegistrationStateChangedEvent registration:
                RegistrationStateChanged?.Invoke(this, registration);
                break;
            case DrtMessageDeliveredEvent delivered:
                MessageDelivered?.Invoke(this, delivered);
                break;
        }
    }

    /// <summary>
    /// Keeps the bootstrap provider's answers fresh: while Alone, asks it again with backoff (1 s doubling to 60 s) and
    /// hands what it finds to the engine, reporting each try as a status event; once Active, tells it the peers that
    /// answered and this instance's endpoints, and every ten minutes asks it for split detection.
    /// </summary>
    private async Task SuperviseAsync(CancellationToken stopping)
    {
        if (_settings.BootstrapProvider is not { } provider)
        {
            return;
        }

        TimeSpan backoff = s_firstResolveBackoff;
        bool reported = false;
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                DrtStatus status = Status;
                if (status == DrtStatus.Faulted)
                {
                    return;
                }

                if (status == DrtStatus.Active && !reported)
                {
                    reported = true;
                    backoff = s_firstResolveBackoff;
                    await ReportPeersAsync(evenIfClosed: false).ConfigureAwait(false);
                    await provider.RegisterAsync(LocalEndpoints, stopping).ConfigureAwait(false);
                }

                reported &= status == DrtStatus.Active;
                if (await StatusChangedWithinAsync(status == DrtStatus.Active ? s_splitResolveInterval : backoff, stopping).ConfigureAwait(false))
                {
                    continue;
                }

                BootstrapPurpose purpose = status == DrtStatus.Active ? BootstrapPurpose.SplitDetection : BootstrapPurpose.Join;
                BootstrapResult found = await provider.ResolveAsync(purpose, _settings.MaxBootstrapEndpoints, stopping).ConfigureAwait(false);
                if (found.Endpoints.Count == 0 && purpose == BootstrapPurpose.SplitDetection)
                {
                    continue; // keep what the join found
                }

                _bootstrapEndpoints = found.Endpoints;
                _bootstrapProblem = found.Problem;
                await InvokeAsync(now =>
                {
                    Engine.ReplaceBootstrap(found.Endpoints, now);
                    if (Status == DrtStatus.Alone)
                    {
                        _events.Publish(StatusEvent(DrtStatus.Alone, DrtStatus.Alone)); // still alone: what it tries now
                    }

                    return true;
                }).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, s_maxResolveBackoff.Ticks));
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Closing.
        }
        catch (DrtException error) when (error.Error is DrtError.Faulted or DrtError.Closed)
        {
            // The engine faulted or closed under us: nothing left to supervise.
        }
    }

    /// <summary>Waits until the engine's status changes (true) or <paramref name="delay"/> passes (false).</summary>
    private async Task<bool> StatusChangedWithinAsync(TimeSpan delay, CancellationToken stopping)
    {
        using var timeout = new CancellationTokenSource(delay, _settings.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, stopping);
        try
        {
            return await _statusSignal.Reader.ReadAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Tells the bootstrap provider which peers answered (a peer cache keeps them for the next start).</summary>
    private async Task ReportPeersAsync(bool evenIfClosed)
    {
        if (_settings.BootstrapProvider is not { } provider)
        {
            return;
        }

        List<IPEndPoint> peers = await InvokeAsync(_ => Engine.LivePeerEndpoints(ReportedPeers), evenIfClosed).ConfigureAwait(false);
        if (peers.Count > 0)
        {
            try
            {
                await provider.ReportPeersAsync(peers, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException)
            {
                // A peer cache that cannot be written costs the next start its head start, nothing more; the status
                // events report the provider's problems when it is read.
            }
        }
    }

    /// <summary>How many keys the application has registered here (any thread).</summary>
    private int RegistrationCount()
    {
        lock (_registrations)
        {
            return _registrations.Count;
        }
    }

    /// <summary>Forgets a registration that was unregistered.</summary>
    internal void Forget(DrtRegistration registration)
    {
        lock (_registrations)
        {
            _registrations.Remove(registration);
        }
    }

    /// <summary>Copies application data after checking its size (DRT: 1..5,120 bytes).</summary>
    internal static byte[] CheckAppData(ReadOnlyMemory<byte> appData) =>
        appData.Length is >= 1 and <= DrtSettings.MaxAppDataSize
            ? appData.ToArray()
            : throw new DrtException(DrtError.PayloadTooLarge, $"Application data must be 1..{DrtSettings.MaxAppDataSize} bytes; it was {appData.Length}.");

    internal void ThrowIfClosed()
    {
        if (Volatile.Read(ref _closed) != 0)
        {
            throw new DrtException(DrtError.Closed, $"The instance {InstanceName} is closed; open a new one.");
        }

        if (Engine.Status == EngineStatus.Faulted)
        {
            throw new DrtException(DrtError.Faulted, $"The instance {InstanceName} faulted ({Engine.FaultedBy?.Message}); close it and open a new one.");
        }
    }
}

/// <summary>A key this instance registered (DRT's registration handle). Disposing it unregisters the key.</summary>
public sealed class DrtRegistration : IAsyncDisposable
{
    private readonly DrtInstance _instance;
    private int _unregistered;

    internal DrtRegistration(DrtInstance instance, Key256 key)
    {
        _instance = instance;
        Key = key;
    }

    /// <summary>The registered key.</summary>
    public Key256 Key { get; }

    /// <summary>Replaces the data published with the key; searchers see it from their next answer.</summary>
    public async Task UpdateAsync(ReadOnlyMemory<byte> appData, CancellationToken cancellationToken = default)
    {
        byte[] data = DrtInstance.CheckAppData(appData);
        ThrowIfUnregistered();
        cancellationToken.ThrowIfCancellationRequested();
        await _instance.InvokeAsync(now =>
        {
            _instance.Engine.UpdateLocalKey(Key, data, now);
            return true;
        }).ConfigureAwait(false);
    }

    /// <summary>Unregisters the key: its leaf-set neighbours are told and drop it. Idempotent.</summary>
    public async Task UnregisterAsync()
    {
        if (Interlocked.Exchange(ref _unregistered, 1) != 0)
        {
            return;
        }

        _instance.Forget(this);
        await _instance.InvokeAsync(now =>
        {
            _instance.Engine.RemoveLocalKey(Key, now);
            return true;
        }).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Volatile.Read(ref _unregistered) == 0 && _instance.Status != DrtStatus.Faulted)
        {
            try
            {
                await UnregisterAsync().ConfigureAwait(false);
            }
            catch (DrtException error) when (error.Error == DrtError.Closed)
            {
                // Closing the instance unregistered it already.
            }
        }
    }

    /// <summary>The instance unregistered it while closing.</summary>
    internal void MarkUnregistered() => Volatile.Write(ref _unregistered, 1);

    private void ThrowIfUnregistered()
    {
        if (Volatile.Read(ref _unregistered) != 0)
        {
            throw new DrtException(DrtError.Closed, $"Key {Key} was unregistered; register it again to publish data.");
        }
    }
}
