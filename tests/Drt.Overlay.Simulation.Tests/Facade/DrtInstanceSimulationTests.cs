using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;
using Xunit;

namespace Drt.Overlay.Simulation.Tests.Facade;

/// <summary>
/// DRT's semantics through the <see cref="DrtInstance"/> facade on the simulated network (WAN latencies) in virtual
/// time: the same calls an application makes, with the whole ring in one process and an oracle to check against.
/// </summary>
public sealed class DrtInstanceSimulationTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(61)]
    [InlineData(62)]
    public async Task EveryKeyIsFoundExactAndNearestAgreesWithTheOracleAndEachRoutedMessageReachesItsRootOnce(int seed)
    {
        await using var sim = new SimulatedInstances(seed);
        var random = new Random(seed);
        Dictionary<Key256, DrtInstance> owners = sim.OpenRing(12, keysEach: 2, random);
        var delivered = new List<(DrtInstance At, DrtMessageDeliveredEvent Message)>();
        foreach (DrtInstance instance in sim.Instances)
        {
            instance.MessageDelivered += (_, message) =>
            {
                lock (delivered)
                {
                    delivered.Add((instance, message));
                }
            };
        }

        Assert.True(sim.RunUntil(() => sim.Instances.TrueForAll(i => i.Status == DrtStatus.Active), TimeSpan.FromMinutes(1)), $"seed {seed}: not every instance became Active");
        sim.RunFor(5 * SimulatedInstances.Period); // consistent join and leaf-set repair settle

        // Exact: every key from an instance that does not own it, with its data and its owner's endpoint.
        foreach ((Key256 key, DrtInstance owner) in owners)
        {
            DrtInstance from = sim.Instances.Find(i => i != owner)!;
            DrtSearchResult found = Assert.Single(sim.Search(from, key));
            Assert.Equal((DrtMatch.Exact, key), (found.Match, found.Key));
            Assert.Equal(SimulatedInstances.DataOf(key), found.AppData.ToArray());
            Assert.Equal(sim.EndpointOf(owner), found.Endpoints[0]);
            Assert.InRange(found.Hops, 1, 6);
        }

        // Nearest over the whole ring, local matches allowed: the registered key closest to the target (ring order).
        Key256[] keys = [.. owners.Keys];
        for (int i = 0; i < 20; i++)
        {
            Key256 target = Key256.Random(random);
            Key256 expected = keys.MinBy(k => k, Comparer<Key256>.Create((a, b) => Key256.CompareCloseness(target, a, b)));
            DrtInstance from = sim.Instances[random.Next(sim.Instances.Count)];
            DrtSearchResult near = Assert.Single(sim.Search(from, target, new DrtSearchOptions { MinKey = Key256.Zero, MaxKey = Key256.MaxValue, AllowLocalMatch = true }));
            Assert.True(near.Key == expected, $"seed {seed}: nearest to {target} was {near.Key}, expected {expected}");
        }

        // Routed messages: each reaches the owner of the closest key once, with its payload, and says so.
        var targets = new List<Key256>();
        for (int i = 0; i < 30; i++)
        {
            Key256 target = Key256.Random(random);
            targets.Add(target);
            DrtInstance from = sim.Instances[random.Next(sim.Instances.Count)];
            DrtRouteOutcome outcome = sim.Run(from.RouteAsync(target, target.ToString().Select(c => (byte)c).ToArray(), Cancel));
            Assert.NotEqual(DrtRouteOutcome.Unreachable, outcome);
        }

        Assert.True(sim.RunUntil(() => { lock (delivered) { return delivered.Count >= targets.Count; } }, TimeSpan.FromSeconds(30)), $"seed {seed}: {delivered.Count} of {targets.Count} delivered");
        sim.RunFor(TimeSpan.FromSeconds(5)); // room for a second delivery, which must not come
        lock (delivered)
        {
            Assert.Equal(targets.Count, delivered.Count);
            foreach (Key256 target in targets)
            {
                Key256 root = keys.MinBy(k => k, Comparer<Key256>.Create((a, b) => Key256.CompareCloseness(target, a, b)));
                (DrtInstance at, DrtMessageDeliveredEvent message) = Assert.Single(delivered, d => d.Message.Target == target);
                Assert.True(at == owners[root] && message.LocalKey == root, $"seed {seed}: {target} delivered at {message.LocalKey}, root {root}");
                Assert.Equal(target.ToString(), string.Concat(message.Payload.ToArray().Select(b => (char)b)));
            }
        }
    }

    [Fact]
    public async Task AKeyRegisteredWhileAloneIsFoundOnceTheInstanceIsActive()
    {
        const int Seed = 63;
        await using var sim = new SimulatedInstances(Seed);
        SimulatedTransport later = sim.Network.CreateTransport();

        // Its bootstrap node is not up yet: alone, it registers anyway.
        DrtInstance early = sim.Open("early", later.EndPoint);
        Key256 key = Key256.Random(new Random(Seed));
        sim.Run(early.RegisterKeyAsync(key, SimulatedInstances.DataOf(key), Cancel));
        sim.RunFor(TimeSpan.FromSeconds(20));
        Assert.Equal(DrtStatus.Alone, early.Status);

        // The bootstrap node comes up with a key of its own; the early instance finds it (its retries back off) and its
        // key becomes visible.
        DrtInstance bootstrap = sim.Open("bootstrap", null, later);
        sim.Run(bootstrap.RegisterKeyAsync(Key256.Random(new Random(Seed + 1)), "b"u8.ToArray(), Cancel));
        Assert.True(sim.RunUntil(() => early.Status == DrtStatus.Active, TimeSpan.FromMinutes(2)), $"seed {Seed}: still {early.Status}");
        sim.RunFor(2 * SimulatedInstances.Period);
        DrtSearchResult found = Assert.Single(sim.Search(bootstrap, key));
        Assert.Equal(SimulatedInstances.DataOf(key), found.AppData.ToArray());
    }

    [Fact]
    public async Task UpdateIsSeenUnregisterAndCloseRaiseDeletedOnTheNeighboursAndTheKeysAreNoLongerFound()
    {
        const int Seed = 64;
        await using var sim = new SimulatedInstances(Seed);
        var random = new Random(Seed);
        Dictionary<Key256, DrtInstance> owners = sim.OpenRing(8, keysEach: 2, random);
        Assert.True(sim.RunUntil(() => sim.Instances.TrueForAll(i => i.Status == DrtStatus.Active), TimeSpan.FromMinutes(1)), $"seed {Seed}");
        sim.RunFor(5 * SimulatedInstances.Period);

        var deleted = new List<(DrtInstance At, Key256 Local, Key256 Remote)>();
        foreach (DrtInstance instance in sim.Instances)
        {
            instance.LeafSetKeyChanged += (_, change) =>
            {
                if (change.Change == DrtLeafSetChange.Deleted)
                {
                    lock (deleted)
                    {
                        deleted.Add((instance, change.LocalKey, change.RemoteKey));
                    }
                }
            };
        }

        // Update: the next search sees the new data.
        DrtInstance searcher = sim.Instances[0];
        (Key256 updatedKey, DrtInstance updatedOwner) = owners.First(o => o.Value != searcher);
        DrtRegistration updated = sim.Registrations[updatedKey];
        sim.Run(updated.UpdateAsync("new data"u8.ToArray(), Cancel));
        Assert.Equal("new data"u8.ToArray(), Assert.Single(sim.Search(searcher, updatedKey)).AppData.ToArray());

        // Unregister one key: every instance whose key held it in its leaf set hears it go, and no one finds it.
        (Key256 gone, DrtInstance goneOwner) = owners.First(o => o.Value != searcher && o.Key != updatedKey);
        List<DrtInstance> holders = HoldersOf(sim, gone, goneOwner);
        Assert.NotEmpty(holders);
        sim.Run(sim.Registrations[gone].UnregisterAsync());
        sim.RunFor(SimulatedInstances.Period);
        lock (deleted)
        {
            foreach (DrtInstance holder in holders)
            {
                Assert.Contains(deleted, d => d.At == holder && d.Remote == gone);
            }
        }

        Assert.Empty(sim.Search(searcher, gone));

        // Close an instance: both its keys leave every leaf set and are no longer found.
        DrtInstance closing = sim.Instances.Find(i => i != searcher && i != goneOwner && i != updatedOwner)!;
        Key256[] closingKeys = [.. owners.Where(o => o.Value == closing).Select(o => o.Key)];
        List<DrtInstance>[] closingHolders = [.. closingKeys.Select(k => HoldersOf(sim, k, closing))];
        sim.Run(closing.CloseAsync());
        sim.RunFor(SimulatedInstances.Period);
        for (int i = 0; i < closingKeys.Length; i++)
        {
            lock (deleted)
            {
                foreach (DrtInstance holder in closingHolders[i])
                {
                    Assert.Contains(deleted, d => d.At == holder && d.Remote == closingKeys[i]);
                }
            }

            Assert.Empty(sim.Search(searcher, closingKeys[i]));
        }
    }

    [Fact]
    public async Task ACancelledSearchSendsNothingMoreAndATimedOutOneEndsWithWhatItHas()
    {
        const int Seed = 65;
        await using var sim = new SimulatedInstances(Seed);
        var random = new Random(Seed);
        Dictionary<Key256, DrtInstance> owners = sim.OpenRing(6, keysEach: 1, random);
        DrtInstance searcher = sim.Open("resolver", sim.EndpointOf(sim.Instances[0])); // resolve-only: no maintenance of keys
        Assert.True(sim.RunUntil(() => sim.Instances.TrueForAll(i => i.Status == DrtStatus.Active), TimeSpan.FromMinutes(1)), $"seed {Seed}");
        sim.RunFor(3 * SimulatedInstances.Period);

        // Nothing reaches the searcher any more: a search waits on its peers, retrying. Its search traffic is counted.
        SimulatedTransport transport = sim.Transports[searcher];
        WireContext context = new Overlay.Engine.EngineOptions().WireContext;
        int searchDatagrams = 0;
        sim.Network.Filter = (from, to, datagram) =>
        {
            if (from == transport && WireHeader.TryRead(datagram, context, out WireHeader header) == DecodeStatus.Ok && header.Type is MessageType.Lookup or MessageType.Inquire)
            {
                searchDatagrams++;
            }

            return to != transport;
        };

        Key256 target = owners.Keys.First();
        using var cancel = new CancellationTokenSource();
        DrtSearch search = sim.Run(searcher.SearchAsync(target, new DrtSearchOptions { Timeout = TimeSpan.FromMinutes(5) }, Cancel));
        Task<List<DrtSearchResult>> reading = ReadAllAsync(search, cancel.Token);
        sim.RunFor(TimeSpan.FromMilliseconds(150));
        Assert.False(reading.IsCompleted); // still searching
        Assert.True(searchDatagrams > 0);

        // Cancelled: the enumeration throws, and not one more search datagram goes out.
        await cancel.CancelAsync();
        Assert.ThrowsAny<OperationCanceledException>(() => sim.Run(reading));
        Assert.False(search.TimedOut);
        int sentAtCancel = searchDatagrams;
        sim.RunFor(TimeSpan.FromSeconds(30));
        Assert.Equal(sentAtCancel, searchDatagrams);

        // Out of time: it ends with what it has (nothing here) and says so.
        DrtSearch timed = sim.Run(searcher.SearchAsync(owners.Keys.Last(), new DrtSearchOptions { Timeout = TimeSpan.FromMilliseconds(100) }, Cancel));
        Assert.Empty(sim.Run(ReadAllAsync(timed, CancellationToken.None)));
        Assert.True(timed.TimedOut);
        sim.Network.Filter = null;
    }

    [Fact]
    public async Task AFaultedInstanceFailsEveryCallWithFaultedUntilItIsClosed()
    {
        const int Seed = 66;
        await using var sim = new SimulatedInstances(Seed);
        DrtInstance instance = sim.Open("faulty", null);
        Key256 key = Key256.Random(new Random(Seed));
        DrtRegistration registration = sim.Run(instance.RegisterKeyAsync(key, "x"u8.ToArray(), Cancel));
        var statuses = new List<DrtStatus>();
        instance.StatusChanged += (_, change) =>
        {
            lock (statuses)
            {
                statuses.Add(change.Status);
            }
        };

        // A bug inside the engine (an exception escaping a handler) is unrecoverable.
        instance.Engine.Post(_ => throw new InvalidOperationException("a bug, for the test"));
        Assert.True(sim.RunUntil(() => instance.Status == DrtStatus.Faulted, TimeSpan.FromSeconds(5)));
        Assert.True(sim.RunUntil(() => { lock (statuses) { return statuses.Contains(DrtStatus.Faulted); } }, TimeSpan.FromSeconds(5)));

        AssertFails(DrtError.Faulted, () => sim.Run(instance.RegisterKeyAsync(Key256.Random(new Random(Seed + 1)), "y"u8.ToArray())));
        AssertFails(DrtError.Faulted, () => sim.Run(instance.SearchAsync(key)));
        AssertFails(DrtError.Faulted, () => sim.Run(instance.RouteAsync(key, "z"u8.ToArray())));
        AssertFails(DrtError.Faulted, () => sim.Run(registration.UpdateAsync("w"u8.ToArray())));
        DrtException faulted = AssertFails(DrtError.Faulted, () => sim.Run(registration.UnregisterAsync()));
        Assert.Contains("a bug, for the test", faulted.Message);

        // Close still works, and afterwards every call says Closed.
        sim.Run(instance.CloseAsync());
        AssertFails(DrtError.Closed, () => sim.Run(instance.SearchAsync(key)));
        AssertFails(DrtError.Closed, () => sim.Run(instance.RouteAsync(key, "z"u8.ToArray())));
    }

    [Fact]
    public async Task InstancesJoiningThroughAResolveOnlyBootstrapNodeFindEachOther()
    {
        // A bootstrap node that registers nothing knows the ring only from the joiners that proved their address.
        const int Seed = 68;
        await using var sim = new SimulatedInstances(Seed);
        var random = new Random(Seed);
        DrtInstance bootstrap = sim.Open("bootstrap", null);
        var keys = new List<(Key256 Key, DrtInstance Owner)>();
        for (int i = 0; i < 3; i++)
        {
            DrtInstance joiner = sim.Open($"joiner{i}", sim.EndpointOf(bootstrap));
            Key256 key = Key256.Random(random);
            sim.Run(joiner.RegisterKeyAsync(key, SimulatedInstances.DataOf(key), Cancel));
            keys.Add((key, joiner));
        }

        Assert.True(sim.RunUntil(() => keys.TrueForAll(k => k.Owner.Status == DrtStatus.Active), TimeSpan.FromMinutes(3)), $"seed {Seed}: {string.Join(", ", keys.Select(k => k.Owner.Status))}");
        sim.RunFor(3 * SimulatedInstances.Period);
        foreach ((Key256 key, DrtInstance owner) in keys)
        {
            foreach ((_, DrtInstance other) in keys.Where(k => k.Owner != owner))
            {
                Assert.Equal(key, Assert.Single(sim.Search(other, key)).Key);
            }

            Assert.Equal(key, Assert.Single(sim.Search(bootstrap, key)).Key);
        }
    }

    [Fact]
    public async Task ATransportThatIsAlreadyInUseIsRefusedWithInvalidSettings()
    {
        await using var sim = new SimulatedInstances(67);
        DrtInstance first = sim.Open("first", null);
        DrtException error = Assert.Throws<DrtException>(() => sim.Open("second", null, sim.Transports[first]));
        Assert.Equal(DrtError.InvalidSettings, error.Error);
        Assert.Contains("new transport", error.Message);
    }

    private static DrtException AssertFails(DrtError expected, Action call)
    {
        DrtException error = Assert.Throws<DrtException>(call);
        Assert.Equal(expected, error.Error);
        return error;
    }

    private static async Task<List<DrtSearchResult>> ReadAllAsync(DrtSearch search, CancellationToken cancellationToken)
    {
        var results = new List<DrtSearchResult>();
        await foreach (DrtSearchResult result in search.WithCancellation(cancellationToken))
        {
            results.Add(result);
        }

        return results;
    }

    /// <summary>The instances (other than the owner) with a key whose leaf set holds <paramref name="key"/>, read on their engine threads.</summary>
    private static List<DrtInstance> HoldersOf(SimulatedInstances sim, Key256 key, DrtInstance owner) =>
        sim.Instances.FindAll(i => i != owner && sim.Run(i.InvokeAsync(_ => i.Engine.Keys.Any(k => k.LeafSet.Contains(key)))));
}
