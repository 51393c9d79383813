using System.Net;
using Drt.Overlay.Bootstrap;
using Drt.Overlay.Wire;

namespace Drt.Overlay.Simulation.Tests.Facade;

/// <summary>
/// <see cref="DrtInstance"/>s on the simulated network in virtual time: each instance gets a simulated transport and the
/// scheduler as its clock, and every call is driven to completion by running virtual time (bounded) while the facade's
/// continuations run on the thread pool.
/// </summary>
internal sealed class SimulatedInstances : IAsyncDisposable
{
    /// <summary>A short maintenance period, so that joins and repairs take seconds of virtual time.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(2);

    private static readonly TimeSpan s_step = TimeSpan.FromMilliseconds(1);

    public SimulatedInstances(int seed)
    {
        Seed = seed;
        Network = new SimulatedNetwork(Scheduler, seed, RingExperiment.Wan);
    }

    public int Seed { get; }

    /// <summary>Changes each instance's settings before it opens (a security provider, say); null: as they are.</summary>
    public Func<int, DrtSettings, DrtSettings>? Configure { get; init; }

    public VirtualTimeScheduler Scheduler { get; } = new();

    public SimulatedNetwork Network { get; }

    public List<DrtInstance> Instances { get; } = [];

    /// <summary>The registrations <see cref="OpenRing"/> made, by key.</summary>
    public Dictionary<Key256, DrtRegistration> Registrations { get; } = [];

    /// <summary>Which transport each instance runs on.</summary>
    public Dictionary<DrtInstance, SimulatedTransport> Transports { get; } = [];

    /// <summary>Opens an instance on <paramref name="transport"/> (a new one when null), bootstrapping from <paramref name="bootstrap"/>.</summary>
    public DrtInstance Open(string name, IPEndPoint? bootstrap, SimulatedTransport? transport = null)
    {
        transport ??= Network.CreateTransport();
        var settings = new DrtSettings
        {
            InstanceName = name,
            Transport = transport,
            TimeProvider = Scheduler,
            RandomSeed = Seed * 1_000 + Instances.Count,
            MaintenancePeriod = Period,
            BootstrapProvider = bootstrap is null ? null : new StaticBootstrapProvider([bootstrap]),
        };
        if (Configure is { } configure)
        {
            settings = configure(Instances.Count, settings);
        }

        DrtInstance instance = Run(DrtInstance.OpenAsync(settings));
        Instances.Add(instance);
        Transports.Add(instance, transport);
        return instance;
    }

    /// <summary>
    /// Opens <paramref name="count"/> instances, each bootstrapping from the first, with <paramref name="keysEach"/> keys
    /// each: random ones in mode None, in the secure modes the keys each instance's identity derives for k0, k1, ….
    /// </summary>
    public Dictionary<Key256, DrtInstance> OpenRing(int count, int keysEach, Random random)
    {
        var owners = new Dictionary<Key256, DrtInstance>();
        for (int i = 0; i < count; i++)
        {
            DrtInstance instance = Open($"sim{i}", i == 0 ? null : EndpointOf(Instances[0]));
            for (int k = 0; k < keysEach; k++)
            {
                Key256 key = Key256.Random(random);
                DrtRegistration registration = instance.Engine.Security.Mode == Overlay.Security.DrtSecurityMode.None
                    ? Run(instance.RegisterKeyAsync(key, DataOf(key)))
                    : Run(instance.RegisterDerivedKeyAsync($"k{k}", DataOf(instance.DeriveKey($"k{k}"))));
                Registrations.Add(registration.Key, registration);
                owners.Add(registration.Key, instance);
            }

            Scheduler.RunFor(TimeSpan.FromMilliseconds(300));
        }

        return owners;
    }

    public IPEndPoint EndpointOf(DrtInstance instance) => Transports[instance].EndPoint;

    /// <summary>The data every test key publishes: its first eight hex digits.</summary>
    public static byte[] DataOf(Key256 key) => [.. key.ToString().Take(8).Select(c => (byte)c)];

    /// <summary>
    /// Runs virtual time until <paramref name="task"/> completes, at most <paramref name="limit"/> of it (a minute
    /// unless told). After each step that ran something, the continuations it released run before time moves on.
    /// </summary>
    public T Run<T>(Task<T> task, TimeSpan? limit = null)
    {
        Drive(task, limit);
        return task.GetAwaiter().GetResult();
    }

    /// <inheritdoc cref="Run{T}(Task{T}, TimeSpan?)"/>
    public void Run(Task task, TimeSpan? limit = null)
    {
        Drive(task, limit);
        task.GetAwaiter().GetResult();
    }

    /// <summary>All the results of a search, driven in virtual time.</summary>
    public List<DrtSearchResult> Search(DrtInstance from, Key256 target, DrtSearchOptions? options = null) =>
        Run(ResultsOfAsync(Run(from.SearchAsync(target, options))));

    /// <summary>Runs virtual time for <paramref name="duration"/>, letting the thread pool run as it goes.</summary>
    public void RunFor(TimeSpan duration)
    {
        TimeSpan chunk = TimeSpan.FromMilliseconds(10);
        for (long i = duration.Ticks / chunk.Ticks; i > 0; i--)
        {
            if (Scheduler.RunFor(chunk) > 0)
            {
                Settle(null);
            }
        }

        Scheduler.RunFor(TimeSpan.FromTicks(duration.Ticks % chunk.Ticks));
    }

    /// <summary>Runs virtual time until <paramref name="condition"/> holds, at most <paramref name="limit"/> of it.</summary>
    public bool RunUntil(Func<bool> condition, TimeSpan limit)
    {
        long steps = limit.Ticks / TimeSpan.FromMilliseconds(10).Ticks;
        for (long i = 0; i < steps && !condition(); i++)
        {
            RunFor(TimeSpan.FromMilliseconds(10));
        }

        return condition();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (DrtInstance instance in Instances)
        {
            Task close = instance.CloseAsync();
            Drive(close, TimeSpan.FromSeconds(30), throwOnLimit: false);
            await close.WaitAsync(TimeSpan.FromSeconds(30)); // a bound in real time, should the drive have ended first
        }
    }

    private static async Task<List<DrtSearchResult>> ResultsOfAsync(DrtSearch search)
    {
        var results = new List<DrtSearchResult>();
        await foreach (DrtSearchResult result in search)
        {
            results.Add(result);
        }

        return results;
    }

    private void Drive(Task task, TimeSpan? limit, bool throwOnLimit = true)
    {
        long steps = (limit ?? TimeSpan.FromMinutes(1)).Ticks / s_step.Ticks;
        for (long i = 0; i < steps && !task.IsCompleted; i++)
        {
            if (Scheduler.RunFor(s_step) > 0 || i % 64 == 0)
            {
                Settle(task);
                if (!task.IsCompleted)
                {
                    ((IAsyncResult)task).AsyncWaitHandle.WaitOne(TimeSpan.FromMilliseconds(1)); // never throws, unlike Wait
                }
            }
        }

        if (throwOnLimit && !task.IsCompleted)
        {
            throw new TimeoutException($"Not done after {limit ?? TimeSpan.FromMinutes(1)} of virtual time (seed {Seed}).");
        }
    }

    /// <summary>
    /// Lets the continuations the last events released run before virtual time moves on: while the thread pool has
    /// work queued, waits for it (at most 50 ms of real time, so a busy machine slows the test rather than changing
    /// what it sees), and gives a running continuation a moment with two yields.
    /// </summary>
    private static void Settle(Task? task)
    {
        int idle = 0;
        for (int spin = 0; spin < 50 && task?.IsCompleted != true && idle < 2; spin++)
        {
            if (ThreadPool.PendingWorkItemCount == 0)
            {
                idle++;
                Thread.Yield();
            }
            else
            {
                idle = 0;
                Thread.Sleep(1);
            }
        }
    }
}
