using System.Net;
using System.Net.Sockets;
using Drt.Overlay.Bootstrap;
using Drt.Overlay.Engine;
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
    private readonly UdpTransport _transport;
    private readonly DrtSettings _settings;
    private readonly List<DrtRegistration> _registrations = [];
    private int _closed;

    private DrtInstance(DrtSettings settings, UdpTransport transport, Overlay.Engine.Engine engine)
    {
        _settings = settings;
        _transport = transport;
        Engine = engine;
    }

    /// <summary>The instance's name, from its settings.</summary>
    public string InstanceName => _settings.InstanceName;

    /// <summary>Where the instance receives.</summary>
    public IReadOnlyList<IPEndPoint> LocalEndpoints => _transport.LocalEndpoints;

    /// <summary>The instance's state now (after closing: the last one it had).</summary>
    public DrtStatus Status => Engine.Status switch
    {
        EngineStatus.Active => DrtStatus.Active,
        EngineStatus.NoNetwork => DrtStatus.NoNetwork,
        EngineStatus.Faulted => DrtStatus.Faulted,
        _ => DrtStatus.Alone,
    };

    internal Overlay.Engine.Engine Engine { get; }

    /// <summary>
    /// Opens an instance: validates <paramref name="settings"/>, asks the bootstrap provider where the ring is, binds the
    /// UDP socket and starts joining. It returns once the socket is open; the instance is Alone until it has found
    /// someone (or someone finds it).
    /// </summary>
    public static async Task<DrtInstance> OpenAsync(DrtSettings settings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        IReadOnlyList<IPEndPoint> bootstrap = [];
        if (settings.BootstrapProvider is { } provider)
        {
            BootstrapResult found = await provider.ResolveAsync(BootstrapPurpose.Join, 16, cancellationToken).ConfigureAwait(false);
            bootstrap = found.Endpoints;
        }

        UdpTransport transport;
        try
        {
            transport = new UdpTransport(settings.TransportOptions());
        }
        catch (SocketException error)
        {
            throw new DrtException(DrtError.TransportFailed, $"Could not bind UDP {settings.BindAddress} port {settings.Port}: {error.SocketErrorCode} ({error.Message}). Choose another port, or 0 for a free one.", error);
        }

        var engine = new Overlay.Engine.Engine(settings.EngineOptions(bootstrap), transport, TimeProvider.System, new Random());
        var instance = new DrtInstance(settings, transport, engine);
        engine.Start();
        await instance.InvokeAsync(now =>
        {
            engine.Join(now);
            return true;
        }).ConfigureAwait(false);
        return instance;
    }

    /// <summary>
    /// Registers <paramref name="key"/> with <paramref name="appData"/> (1..5,120 bytes). Allowed while Active, Alone or
    /// NoNetwork; a key registered before the instance is Active is published once it is.
    /// </summary>
    public async Task<DrtRegistration> RegisterKeyAsync(Key256 key, ReadOnlyMemory<byte> appData, CancellationToken cancellationToken = default)
    {
        byte[] data = CheckAppData(appData);
        ThrowIfClosed();

        // Cancellation counts only before the engine takes the key: a registration it made is always tracked, so that
        // closing unregisters it (the command itself takes microseconds on the engine thread).
        cancellationToken.ThrowIfCancellationRequested();
        await InvokeAsync(now => Engine.AddLocalKey(key, data, now)).ConfigureAwait(false);
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
        var search = new DrtSearch(this, options.Timeout);
        await InvokeAsync(now =>
        {
            search.Start(request, now);
            return true;
        }).ConfigureAwait(false);
        return search;
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

        if (Engine.Status != EngineStatus.Faulted)
        {
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
        Engine.Post(now =>
        {
            try
            {
                done.SetResult(command(now));
            }
            catch (Exception error)
            {
                done.SetException(error);
            }
        });
        return done.Task;
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
        await _instance.InvokeAsync(_ =>
        {
            _instance.Engine.UpdateLocalKey(Key, data);
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
