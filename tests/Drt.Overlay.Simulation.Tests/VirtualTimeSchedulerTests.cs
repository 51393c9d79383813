using Xunit;
namespace Drt.Overlay.Simulation.Tests;

public sealed class VirtualTimeSchedulerTests
{
    [Fact]
    public void ClockStartsAtTheGivenInstantAndMovesOnlyWhenRun()
    {
        var start = new DateTimeOffset(2030, 5, 6, 7, 8, 9, TimeSpan.Zero);
        var scheduler = new VirtualTimeScheduler(start);
        long t0 = scheduler.GetTimestamp();

        Assert.Equal(start, scheduler.GetUtcNow());
        Assert.Equal(TimeSpan.Zero, scheduler.GetElapsedTime(t0));

        scheduler.RunFor(TimeSpan.FromSeconds(90));

        Assert.Equal(start.AddSeconds(90), scheduler.GetUtcNow());
        Assert.Equal(TimeSpan.FromSeconds(90), scheduler.GetElapsedTime(t0));
        Assert.Equal(TimeSpan.FromSeconds(90), scheduler.Elapsed);
    }

    [Fact]
    public void EventsRunInDueOrderAndEqualTimesInSchedulingOrder()
    {
        var scheduler = new VirtualTimeScheduler();
        var ran = new List<(string Name, TimeSpan At)>();
        void Add(string name, int ms) => scheduler.Schedule(TimeSpan.FromMilliseconds(ms), () => ran.Add((name, scheduler.Elapsed)));

        Add("c", 30);
        Add("a", 10);
        Add("b1", 20);
        Add("b2", 20);
        Add("b3", 20);

        long count = scheduler.RunUntilIdle();

        Assert.Equal(5, count);
        Assert.Equal(["a", "b1", "b2", "b3", "c"], ran.ConvertAll(r => r.Name));
        Assert.Equal([10, 20, 20, 20, 30], ran.ConvertAll(r => (int)r.At.TotalMilliseconds));
    }

    [Fact]
    public void RunForRunsExactlyTheEventsDueWithinTheWindow()
    {
        var scheduler = new VirtualTimeScheduler();
        var ran = new List<int>();
        foreach (int ms in new[] { 5, 10, 11, 40 })
        {
            scheduler.Schedule(TimeSpan.FromMilliseconds(ms), () => ran.Add(ms));
        }

        Assert.Equal(2, scheduler.RunFor(TimeSpan.FromMilliseconds(10)));
        Assert.Equal([5, 10], ran);
        Assert.Equal(TimeSpan.FromMilliseconds(10), scheduler.Elapsed);
        Assert.Equal(2, scheduler.PendingEvents);
    }

    [Fact]
    public void OneShotTimerFiresOnceAtItsDueTime()
    {
        var scheduler = new VirtualTimeScheduler();
        var fired = new List<TimeSpan>();
        using ITimer timer = scheduler.CreateTimer(_ => fired.Add(scheduler.Elapsed), null, TimeSpan.FromSeconds(2), Timeout.InfiniteTimeSpan);

        scheduler.RunFor(TimeSpan.FromSeconds(10));

        Assert.Equal([TimeSpan.FromSeconds(2)], fired);
    }

    [Fact]
    public void PeriodicTimerFiresEveryPeriodUntilDisposed()
    {
        var scheduler = new VirtualTimeScheduler();
        var fired = new List<double>();
        ITimer timer = scheduler.CreateTimer(_ => fired.Add(scheduler.Elapsed.TotalSeconds), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3));

        scheduler.RunFor(TimeSpan.FromSeconds(10));
        timer.Dispose();
        scheduler.RunFor(TimeSpan.FromSeconds(10));

        Assert.Equal([1, 4, 7, 10], fired);
        Assert.False(timer.Change(TimeSpan.Zero, Timeout.InfiniteTimeSpan));
    }

    [Fact]
    public void ChangeReplacesTheEarlierScheduleInsteadOfAddingToIt()
    {
        var scheduler = new VirtualTimeScheduler();
        var fired = new List<double>();
        using ITimer timer = scheduler.CreateTimer(state => fired.Add(scheduler.Elapsed.TotalSeconds), null, TimeSpan.FromSeconds(5), Timeout.InfiniteTimeSpan);

        scheduler.RunFor(TimeSpan.FromSeconds(1));
        Assert.True(timer.Change(TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan));
        scheduler.RunFor(TimeSpan.FromSeconds(1));
        Assert.True(timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan));
        scheduler.RunFor(TimeSpan.FromSeconds(10));

        Assert.Equal([2], fired);
    }

    [Fact]
    public void TimerPassesItsState()
    {
        var scheduler = new VirtualTimeScheduler();
        object? seen = null;
        var state = new object();
        using ITimer timer = scheduler.CreateTimer(s => seen = s, state, TimeSpan.Zero, Timeout.InfiniteTimeSpan);

        Assert.Null(seen); // never synchronously, as with a real timer
        scheduler.Step();

        Assert.Same(state, seen);
    }

    [Fact]
    public async Task TaskDelayCompletesInVirtualTime()
    {
        var scheduler = new VirtualTimeScheduler();
        Task delay = Task.Delay(TimeSpan.FromHours(1), scheduler, TestContext.Current.CancellationToken);

        scheduler.RunFor(TimeSpan.FromMinutes(59));
        Assert.False(delay.IsCompleted);
        scheduler.RunFor(TimeSpan.FromMinutes(1));

        await delay.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.True(delay.IsCompletedSuccessfully);
    }

    [Fact]
    public void RunUntilStopsWhenTheConditionHoldsOrTheTimeoutPasses()
    {
        var scheduler = new VirtualTimeScheduler();
        int ticks = 0;
        using ITimer timer = scheduler.CreateTimer(_ => ticks++, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));

        Assert.True(scheduler.RunUntil(() => ticks == 3, TimeSpan.FromMinutes(1)));
        Assert.Equal(TimeSpan.FromSeconds(3), scheduler.Elapsed);

        Assert.False(scheduler.RunUntil(() => ticks == 1000, TimeSpan.FromSeconds(10)));
        Assert.Equal(TimeSpan.FromSeconds(13), scheduler.Elapsed);
        Assert.Equal(13, ticks);
    }

    [Fact]
    public void ALivelockExceedsTheEventBudgetInsteadOfSpinning()
    {
        var scheduler = new VirtualTimeScheduler();
        void Again() => scheduler.Schedule(TimeSpan.Zero, Again);
        scheduler.Schedule(TimeSpan.Zero, Again);

        InvalidOperationException error = Assert.Throws<InvalidOperationException>(() => scheduler.RunFor(TimeSpan.FromSeconds(1), maxEvents: 1000));
        Assert.Contains("livelock", error.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => scheduler.RunUntilIdle(maxEvents: 1000));
        Assert.Throws<InvalidOperationException>(() => scheduler.RunUntil(() => false, TimeSpan.FromSeconds(1), maxEvents: 1000));
    }

    [Fact]
    public void NegativeDelaysAndPeriodsAreRejected()
    {
        var scheduler = new VirtualTimeScheduler();

        Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.Schedule(TimeSpan.FromTicks(-1), () => { }));
        Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.CreateTimer(_ => { }, null, TimeSpan.FromSeconds(-2), Timeout.InfiniteTimeSpan));
        Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.CreateTimer(_ => { }, null, TimeSpan.Zero, TimeSpan.FromSeconds(-2)));
        Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.RunFor(TimeSpan.FromSeconds(-1)));
    }

    [Fact]
    public void EventsOfReArmedTimersDoNotPileUpInTheQueue()
    {
        var scheduler = new VirtualTimeScheduler();
        int fired = 0;
        using ITimer timer = scheduler.CreateTimer(_ => fired++, null, TimeSpan.FromHours(1), Timeout.InfiniteTimeSpan);

        // An engine's pattern: re-armed far out, then earlier, over and over; each change leaves a stale event.
        for (int i = 0; i < 100_000; i++)
        {
            timer.Change(TimeSpan.FromHours(1), Timeout.InfiniteTimeSpan);
            timer.Change(TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        }

        Assert.True(scheduler.PendingEvents < 5_000, $"{scheduler.PendingEvents} events queued for one timer");
        scheduler.RunFor(TimeSpan.FromHours(2));
        Assert.Equal(1, fired);
    }
}
