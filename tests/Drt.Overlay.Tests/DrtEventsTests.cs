using System.Net;
using Drt.Overlay.Bootstrap;
using Drt.Overlay.Wire;
using Xunit;
using static Drt.Overlay.Tests.FacadeTestKit;

namespace Drt.Overlay.Tests;

/// <summary>
/// The facade's events over real UDP on loopback: status and leaf-set changes in order and off the engine thread, a
/// slow reader that loses events and is told so without stalling the instance, and the bootstrap provider asked again
/// while alone, fed with the peers that answered. Waits are bounded; nothing asserts a duration.
/// </summary>
public sealed class DrtEventsTests
{
    [Fact]
    public async Task StatusAndLeafSetChangesArriveInOrderOffTheEngineThreadAsEventsAndAsAStream()
    {
        var random = new Random(81);
        await using DrtInstance first = await DrtInstance.OpenAsync(Settings("first"), Cancel);
        var handled = new List<(DrtEvent Event, int Thread)>();
        first.StatusChanged += (_, e) => Note(e);
        first.LeafSetKeyChanged += (_, e) => Note(e);
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        IAsyncEnumerator<DrtEvent> stream = first.Events(reading.Token).GetAsyncEnumerator(reading.Token);

        Key256 mine = Key256.Random(random);
        Key256 theirs = Key256.Random(random);
        await first.RegisterKeyAsync(mine, new byte[] { 1 }, Cancel);
        DrtInstance second = await DrtInstance.OpenAsync(Settings("second") with { BootstrapProvider = new StaticBootstrapProvider([Loopback(first)]) }, Cancel);
        DrtRegistration registration = await second.RegisterKeyAsync(theirs, new byte[] { 2 }, Cancel);

        // The stream begins with the status at subscription: the first instance started the ring, alone.
        DrtStatusChangedEvent opened = Assert.IsType<DrtStatusChangedEvent>(await Next(stream));
        Assert.Equal((DrtStatus.Alone, DrtStatus.Alone), (opened.Status, opened.PreviousStatus));
        Assert.Empty(opened.BootstrapEndpoints);

        // The second's key joins the first's leaf set and the first is active, in the order the engine saw them.
        var seen = new List<DrtEvent>();
        while (!seen.Exists(e => e is DrtLeafSetKeyChangedEvent { Change: DrtLeafSetChange.Added } added && added.RemoteKey == theirs)
            || !seen.Exists(e => e is DrtStatusChangedEvent { Status: DrtStatus.Active }))
        {
            seen.Add(await Next(stream));
        }

        DrtLeafSetKeyChangedEvent join = seen.OfType<DrtLeafSetKeyChangedEvent>().Single(e => e.RemoteKey == theirs);
        Assert.Equal(mine, join.LocalKey);
        Assert.Equal(Loopback(second).Port, Assert.Single(join.Endpoints).Port);
        Assert.Contains(seen, e => e is DrtStatusChangedEvent { Status: DrtStatus.Active, PreviousStatus: DrtStatus.Alone });

        // Unregistered: the neighbour hears Deleted.
        await registration.UnregisterAsync();
        do
        {
            seen.Add(await Next(stream));
        }
        while (seen[^1] is not DrtLeafSetKeyChangedEvent { Change: DrtLeafSetChange.Deleted });
        Assert.Equal(theirs, ((DrtLeafSetKeyChangedEvent)seen[^1]).RemoteKey);

        // Closing ends the stream (after what was queued), and the handlers saw the same events in the same order,
        // none on the engine's thread.
        int engineThread = await first.InvokeAsync(_ => Environment.CurrentManagedThreadId);
        await second.CloseAsync();
        await first.CloseAsync();
        while (await stream.MoveNextAsync())
        {
            seen.Add(stream.Current);
        }

        List<DrtEvent> handledEvents;
        lock (handled)
        {
            handledEvents = [.. handled.Select(h => h.Event)];
            Assert.DoesNotContain(handled, h => h.Thread == engineThread);
        }

        // (The status at opening reached the handlers only if they were subscribed before it was dispatched.)
        Assert.Equal(seen.Where(NotTheOpening), handledEvents.Where(NotTheOpening));
        Assert.Equal(0, first.DroppedEvents);
        await stream.DisposeAsync();

        void Note(DrtEvent e)
        {
            lock (handled)
            {
                handled.Add((e, Environment.CurrentManagedThreadId));
            }
        }
    }

    [Fact]
    public async Task AReaderThatFallsBehindLosesEventsIsToldHowManyAndNeverStallsTheInstance()
    {
        var random = new Random(82);
        await using DrtInstance first = await DrtInstance.OpenAsync(Settings("first") with { EventQueueCapacity = 16 }, Cancel);
        await using DrtInstance second = await DrtInstance.OpenAsync(Settings("second") with { BootstrapProvider = new StaticBootstrapProvider([Loopback(first)]) }, Cancel);
        IAsyncEnumerable<DrtEvent> unread = first.Events(Cancel);

        // Forty keys on each side: hundreds of leaf-set changes, far more than the reader's sixteen places.
        Key256[] keys = [.. Enumerable.Range(0, 80).Select(_ => Key256.Random(random))];
        for (int i = 0; i < keys.Length; i++)
        {
            await (i % 2 == 0 ? first : second).RegisterKeyAsync(keys[i], new byte[] { (byte)i }, Cancel);
        }

        // The instance goes on regardless: every key is found from the other side.
        for (int i = 0; i < keys.Length; i += 8)
        {
            await SearchUntilFound(i % 2 == 0 ? second : first, keys[i], i % 2 == 0 ? first : second);
        }

        Assert.True(first.DroppedEvents > 0, $"no event was dropped with {keys.Length} keys registered");
        await first.CloseAsync();
        var read = new List<DrtEvent>();
        await foreach (DrtEvent e in unread)
        {
            read.Add(e);
        }

        // What the reader got: its sixteen places' worth, then the count of what it lost after them (losses at the
        // instance's own queue, when the dispatcher fell behind, are counted in the same way, where they happened).
        Assert.Equal(17, read.Count);
        long told = Assert.IsType<DrtEventsDroppedEvent>(read[^1]).Count + read.Take(16).OfType<DrtEventsDroppedEvent>().Sum(e => e.Count);
        Assert.InRange(told, 1, first.DroppedEvents);
    }

    [Fact]
    public async Task WhileAloneTheProviderIsAskedAgainAndThePeersThatAnsweredAreKeptForTheNextStart()
    {
        string cacheFile = Path.Combine(Path.GetTempPath(), $"drt-peers-{Guid.NewGuid():N}.txt");
        try
        {
            await using DrtInstance first = await DrtInstance.OpenAsync(Settings("first"), Cancel);
            await first.RegisterKeyAsync(Key256.Random(new Random(83)), new byte[] { 1 }, Cancel);

            // The provider knows nothing at first (as if DNS failed), then the first instance.
            var late = new LateProvider();
            var cache = new PeerCacheBootstrapProvider(cacheFile);
            DrtInstance second = await DrtInstance.OpenAsync(Settings("second") with { BootstrapProvider = new CompositeBootstrapProvider(cache, late) }, Cancel);
            IAsyncEnumerator<DrtEvent> stream = second.Events(Cancel).GetAsyncEnumerator(Cancel);
            await second.RegisterKeyAsync(Key256.Random(new Random(84)), new byte[] { 2 }, Cancel);

            DrtStatusChangedEvent start = Assert.IsType<DrtStatusChangedEvent>(await Next(stream));
            Assert.Equal(DrtStatus.Alone, start.Status);
            Assert.Empty(start.BootstrapEndpoints);
            Assert.Contains("not there yet", start.BootstrapProblem);

            late.Endpoints = [Loopback(first)];
            DrtStatusChangedEvent retried;
            do
            {
                retried = Assert.IsType<DrtStatusChangedEvent>(await Next(stream));
            }
            while (retried.BootstrapEndpoints.Count == 0);
            Assert.Equal((DrtStatus.Alone, DrtStatus.Alone), (retried.Status, retried.PreviousStatus));
            Assert.Equal(Loopback(first), Assert.Single(retried.BootstrapEndpoints));
            while ((await Next(stream)) is not DrtStatusChangedEvent { Status: DrtStatus.Active })
            {
            }

            // Closing saves the peers that answered; a new instance with only the cache joins through them.
            await second.CloseAsync();
            Assert.Contains(Loopback(first).ToString(), await File.ReadAllLinesAsync(cacheFile, Cancel));
            await using DrtInstance third = await DrtInstance.OpenAsync(Settings("third") with { BootstrapProvider = new PeerCacheBootstrapProvider(cacheFile) }, Cancel);
            Key256 key = Key256.Random(new Random(85));
            await third.RegisterKeyAsync(key, new byte[] { 3 }, Cancel);
            await SearchUntilFound(first, key, third);
        }
        finally
        {
            File.Delete(cacheFile);
        }
    }

    private static bool NotTheOpening(DrtEvent e) => e is not DrtStatusChangedEvent { PreviousStatus: DrtStatus.Alone, Status: DrtStatus.Alone };

    /// <summary>The next event, within a bound.</summary>
    private static async Task<DrtEvent> Next(IAsyncEnumerator<DrtEvent> stream)
    {
        Assert.True(await stream.MoveNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30), Cancel), "the event stream ended");
        return stream.Current;
    }

    /// <summary>A provider whose endpoints appear later (a DNS name not yet published).</summary>
    private sealed class LateProvider : IBootstrapProvider
    {
        public volatile IReadOnlyList<IPEndPoint> Endpoints = [];

        public ValueTask<BootstrapResult> ResolveAsync(BootstrapPurpose purpose, int maxEndpoints, CancellationToken cancellationToken) =>
            ValueTask.FromResult(Endpoints.Count == 0 ? BootstrapResult.Failed("the name is not there yet") : new BootstrapResult(Endpoints));

        public ValueTask RegisterAsync(IReadOnlyList<IPEndPoint> ownEndpoints, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask UnregisterAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}
