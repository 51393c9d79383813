using Drt.Overlay.Engine;

namespace Drt.Overlay.Simulation;

/// <summary>
/// A deterministic clock and event queue: a <see cref="TimeProvider"/> whose time moves only when events run.
/// Timers created through it, the simulated network's deliveries and anything scheduled with
/// <see cref="Schedule(TimeSpan, Action)"/> run on the thread that calls <see cref="Step()"/> or one of the <c>Run</c> methods,
/// in order of due time and, for equal times, in the order they were scheduled.
/// </summary>
/// <remarks>
/// <para>
/// Nothing here reads a wall clock, so a run is a pure function of its inputs and seeds: the same program
/// with the same seed produces the same events at the same virtual times, however fast the machine is.
/// Scheduling and timer changes are safe from any thread (the queue is locked); running is meant for one
/// thread at a time, the simulation's.
/// </para>
/// <para>
/// Every <c>Run</c> method is bounded by an event budget: a run that would exceed it throws rather than
/// spinning forever on a livelock (two timers re-arming each other at the same instant, say).
/// </para>
/// </remarks>
public sealed class VirtualTimeScheduler : TimeProvider
{
    /// <summary>The event budget of a <c>Run</c> method called without one.</summary>
    public const long DefaultMaxEvents = 100_000_000;

    private readonly Lock _gate = new();
    private const int MinCompactAt = 4096;

    private readonly PriorityQueue<ScheduledEvent, EventOrder> _queue;
    private readonly PriorityQueue<ScheduledEvent, EventOrder>.UnorderedItemsCollection _queueItems;
    private readonly Func<ScheduledEvent, bool> _isLive;
    private (ScheduledEvent Event, EventOrder Order)[] _compactScratch = new (ScheduledEvent, EventOrder)[MinCompactAt];
    private int _compactAt = MinCompactAt - 1;
    private readonly DateTimeOffset _start;
    private long _now;
    private long _sequence;
    private long _executed;

    /// <summary>Creates a scheduler whose clock starts at 2026-01-01T00:00:00Z.</summary>
    public VirtualTimeScheduler()
        : this(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero))
    {
    }

    /// <summary>Creates a scheduler whose clock starts at <paramref name="start"/>.</summary>
    public VirtualTimeScheduler(DateTimeOffset start)
    {
        _start = start;
        _queue = new(MinCompactAt);
        _queueItems = _queue.UnorderedItems; // made here rather than at the first compaction, like the predicate
        _isLive = static e => !e.Handler.IsStale(e.Generation);
    }

    /// <summary>Virtual time elapsed since the scheduler was created.</summary>
    public TimeSpan Elapsed => new(Volatile.Read(ref _now));

    /// <summary>Events waiting in the queue (including timers that were changed or disposed since they were queued).</summary>
    public int PendingEvents
    {
        get
        {
            lock (_gate)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>Events run so far.</summary>
    public long ExecutedEvents => Volatile.Read(ref _executed);

    /// <inheritdoc/>
    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    /// <inheritdoc/>
    /// <remarks>One timestamp unit is one tick (100 ns).</remarks>
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    /// <inheritdoc/>
    public override DateTimeOffset GetUtcNow() => _start + Elapsed;

    /// <inheritdoc/>
    public override long GetTimestamp() => Volatile.Read(ref _now);

    /// <inheritdoc/>
    /// <remarks>The callback runs on the simulation's thread when virtual time reaches its due time.</remarks>
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var timer = new VirtualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Runs <paramref name="action"/> on the simulation's thread after <paramref name="delay"/> of virtual time.</summary>
    public void Schedule(TimeSpan delay, Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        Schedule(delay.Ticks, new ActionEvent(action), 0, 0);
    }

    /// <summary>
    /// Runs the next event, advancing the clock to its due time. Returns false when the queue is empty.
    /// </summary>
    public bool Step() => Step(long.MaxValue);

    /// <summary>
    /// Runs every event due within <paramref name="duration"/> from now, then sets the clock to exactly
    /// now + <paramref name="duration"/>. Returns the number of events run.
    /// </summary>
    /// <exception cref="InvalidOperationException">More than <paramref name="maxEvents"/> events were due.</exception>
    public long RunFor(TimeSpan duration, long maxEvents = DefaultMaxEvents)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        long target = checked(Volatile.Read(ref _now) + duration.Ticks);
        long run = 0;
        while (Step(target))
        {
            if (++run >= maxEvents && HasEventDueBy(target))
            {
                throw BudgetExceeded(maxEvents, $"running for {duration}");
            }
        }

        lock (_gate)
        {
            // Events never move the clock past the target, so this only ever moves it forward.
            Volatile.Write(ref _now, Math.Max(_now, target));
        }

        return run;
    }

    /// <summary>
    /// Runs events until <paramref name="condition"/> holds (checked before each event) or
    /// <paramref name="timeout"/> of virtual time has passed. Returns whether the condition holds.
    /// </summary>
    /// <exception cref="InvalidOperationException">More than <paramref name="maxEvents"/> events ran first.</exception>
    public bool RunUntil(Func<bool> condition, TimeSpan timeout, long maxEvents = DefaultMaxEvents)
    {
        ArgumentNullException.ThrowIfNull(condition);
        ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
        long target = checked(Volatile.Read(ref _now) + timeout.Ticks);
        long run = 0;
        while (!condition())
        {
            if (!Step(target))
            {
                lock (_gate)
                {
                    Volatile.Write(ref _now, Math.Max(_now, target));
                }

                return condition();
            }

            if (++run > maxEvents)
            {
                throw BudgetExceeded(maxEvents, "waiting for a condition");
            }
        }

        return true;
    }

    /// <summary>
    /// Runs events until the queue is empty. Periodic timers never let a queue empty: use <see cref="RunFor"/> with them.
    /// Returns the number of events run.
    /// </summary>
    /// <exception cref="InvalidOperationException">More than <paramref name="maxEvents"/> events ran first.</exception>
    public long RunUntilIdle(long maxEvents = DefaultMaxEvents)
    {
        long run = 0;
        while (Step(long.MaxValue))
        {
            if (++run >= maxEvents && PendingEvents > 0)
            {
                throw BudgetExceeded(maxEvents, "running until idle");
            }
        }

        return run;
    }

    /// <summary>Queues an event <paramref name="delayTicks"/> from now. The hot path of the simulated network: no allocation.</summary>
    internal void Schedule(long delayTicks, IScheduledEvent handler, long argument, int generation)
    {
        lock (_gate)
        {
            // Time never runs backwards: an event is due no earlier than now.
            long due = delayTicks <= 0 ? _now : checked(_now + delayTicks);
            _queue.Enqueue(new ScheduledEvent(handler, argument, generation), new EventOrder(due, _sequence++));
            if (_queue.Count >= _compactAt)
            {
                Compact();
            }
        }
    }

    /// <summary>
    /// Drops the events of timers changed or disposed since they were queued. A timer re-armed earlier than before
    /// leaves its old event behind (skipped when it comes up); engines re-arm at every request, so without this the
    /// queue would grow with far-future stale events. Amortised: it runs when the queue doubles past its live size,
    /// and before the queue's own storage would have to grow for stale events.
    /// </summary>
    private void Compact()
    {
        if (_compactScratch.Length < _queue.Count)
        {
            _compactScratch = new (ScheduledEvent, EventOrder)[_queue.Count];
        }

        int live = QueueCompaction.Compact(_queue, _queueItems, _compactScratch, _isLive);
        _compactAt = Math.Max(MinCompactAt - 1, 2 * live); // below the queue's capacity, which then need not grow
    }

    private bool Step(long notAfter)
    {
        ScheduledEvent next;
        lock (_gate)
        {
            if (!_queue.TryPeek(out next, out EventOrder order) || order.Due > notAfter)
            {
                return false;
            }

            _queue.Dequeue();
            Volatile.Write(ref _now, order.Due);
        }

        // Outside the lock: the event may schedule more events, or another thread may.
        Interlocked.Increment(ref _executed);
        next.Handler.Run(next.Argument, next.Generation);
        return true;
    }

    private bool HasEventDueBy(long target)
    {
        lock (_gate)
        {
            return _queue.TryPeek(out _, out EventOrder order) && order.Due <= target;
        }
    }

    private InvalidOperationException BudgetExceeded(long maxEvents, string what) =>
        new($"The simulation ran {maxEvents} events {what} at virtual time {Elapsed} and more were due: raise the event budget or look for a livelock.");

    /// <summary>Something the scheduler runs: a timer, a datagram delivery, a transport wake.</summary>
    internal interface IScheduledEvent
    {
        /// <summary>Runs the event. <paramref name="generation"/> lets a handler ignore events it has since cancelled.</summary>
        void Run(long argument, int generation);

        /// <summary>Whether an event queued with <paramref name="generation"/> has since been cancelled (it may be dropped unrun).</summary>
        bool IsStale(int generation) => false;
    }

    private readonly record struct ScheduledEvent(IScheduledEvent Handler, long Argument, int Generation);

    /// <summary>Due time first, then the order of scheduling, so equal times run first come, first served.</summary>
    private readonly record struct EventOrder(long Due, long Sequence) : IComparable<EventOrder>
    {
        public int CompareTo(EventOrder other)
        {
            int byDue = Due.CompareTo(other.Due);
            return byDue != 0 ? byDue : Sequence.CompareTo(other.Sequence);
        }
    }

    private sealed class ActionEvent(Action action) : IScheduledEvent
    {
        public void Run(long argument, int generation) => action();
    }

    /// <summary>
    /// A timer in virtual time. Changing or disposing it bumps its generation, which makes every event it queued
    /// before stale: those are skipped when they come up rather than searched for and removed.
    /// </summary>
    private sealed class VirtualTimer(VirtualTimeScheduler scheduler, TimerCallback callback, object? state) : ITimer, IScheduledEvent
    {
        private readonly Lock _gate = new();
        private int _generation;
        private long _periodTicks;
        private bool _disposed;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            ValidatePeriod(dueTime, nameof(dueTime));
            ValidatePeriod(period, nameof(period));
            int generation;
            lock (_gate)
            {
                if (_disposed)
                {
                    return false;
                }

                generation = ++_generation;
                _periodTicks = period == Timeout.InfiniteTimeSpan ? 0 : period.Ticks;
            }

            if (dueTime != Timeout.InfiniteTimeSpan)
            {
                scheduler.Schedule(dueTime.Ticks, this, 0, generation);
            }

            return true;
        }

        public bool IsStale(int generation)
        {
            lock (_gate)
            {
                return _disposed || generation != _generation;
            }
        }

        public void Run(long argument, int generation)
        {
            lock (_gate)
            {
                if (_disposed || generation != _generation)
                {
                    return;
                }

                // A zero period means one-shot, as with System.Threading.Timer.
                if (_periodTicks > 0)
                {
                    scheduler.Schedule(_periodTicks, this, 0, generation);
                }
            }

            callback(state);
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _disposed = true;
                _generation++;
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }

        private static void ValidatePeriod(TimeSpan value, string name)
        {
            if (value < TimeSpan.Zero && value != Timeout.InfiniteTimeSpan)
            {
                throw new ArgumentOutOfRangeException(name, value, "A timer's due time and period must be non-negative or Timeout.InfiniteTimeSpan.");
            }
        }
    }
}
