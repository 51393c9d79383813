using System.Threading.Channels;

namespace Drt.Overlay;

/// <summary>
/// Carries an instance's events off the engine thread, in order: the engine publishes into a bounded queue (never
/// waiting), one dispatcher task hands each event to the .NET event handlers and then to every stream reader's own
/// bounded queue. A full queue drops the event and counts it; the reader behind it then gets a
/// <see cref="DrtEventsDroppedEvent"/> in their place. So a slow handler or reader never stalls the engine, and no
/// loss goes unreported.
/// </summary>
internal sealed class EventHub
{
    private readonly Channel<DrtEvent> _queue;
    private readonly Action<DrtEvent> _raise;
    private readonly int _capacity;
    private readonly List<Reader> _readers = [];
    private readonly Lock _gate = new();
    private readonly Task _dispatcher;
    private DrtStatusChangedEvent? _lastStatus;
    private bool _ended;
    private long _droppedAtQueue;
    private long _dropped;
    private long _handlerFailures;

    /// <summary>Creates the hub and starts its dispatcher; <paramref name="raise"/> invokes the .NET events.</summary>
    public EventHub(int capacity, Action<DrtEvent> raise)
    {
        _capacity = capacity;
        _raise = raise;
        _queue = Channel.CreateBounded<DrtEvent>(new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        _dispatcher = Task.Run(DispatchAsync);
    }

    /// <summary>Events lost so far because the dispatcher or a reader fell behind.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Exceptions thrown by the application's event handlers (each is caught; delivery goes on).</summary>
    public long HandlerFailures => Interlocked.Read(ref _handlerFailures);

    /// <summary>Queues <paramref name="drtEvent"/> for delivery (any thread; never waits).</summary>
    public void Publish(DrtEvent drtEvent)
    {
        if (!_queue.Writer.TryWrite(drtEvent))
        {
            Interlocked.Increment(ref _droppedAtQueue);
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>
    /// A stream of every event from now on, beginning with the latest status event; it ends when the instance closes
    /// or <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public IAsyncEnumerable<DrtEvent> Subscribe(CancellationToken cancellationToken)
    {
        var reader = new Reader(_capacity);
        lock (_gate)
        {
            if (_lastStatus is { } status)
            {
                reader.Offer(status, this);
            }

            if (_ended)
            {
                reader.Complete();
            }
            else
            {
                _readers.Add(reader);
            }
        }

        return ReadAsync(reader, cancellationToken);
    }

    /// <summary>Delivers what is queued, then ends every stream (after the engine has stopped).</summary>
    public async Task CompleteAsync()
    {
        _queue.Writer.TryComplete();
        await _dispatcher.ConfigureAwait(false);
    }

    private async IAsyncEnumerable<DrtEvent> ReadAsync(Reader reader, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        try
        {
            await foreach (DrtEvent drtEvent in reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return drtEvent;
            }
        }
        finally
        {
            lock (_gate)
            {
                _readers.Remove(reader);
            }
        }
    }

    private async Task DispatchAsync()
    {
        await foreach (DrtEvent drtEvent in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            long lost = Interlocked.Exchange(ref _droppedAtQueue, 0);
            if (lost > 0)
            {
                Deliver(new DrtEventsDroppedEvent(lost));
            }

            Deliver(drtEvent);
        }

        long lostAtEnd = Interlocked.Exchange(ref _droppedAtQueue, 0);
        if (lostAtEnd > 0)
        {
            Deliver(new DrtEventsDroppedEvent(lostAtEnd));
        }

        lock (_gate)
        {
            _ended = true;
            foreach (Reader reader in _readers)
            {
                reader.Complete();
            }
        }
    }

    private void Deliver(DrtEvent drtEvent)
    {
        try
        {
            _raise(drtEvent);
        }
        catch (Exception)
        {
            // The application's handler failed: that is its business, and the other handlers and readers still
            // get this event and the next. Counted, so that it shows.
            Interlocked.Increment(ref _handlerFailures);
        }

        lock (_gate)
        {
            if (drtEvent is DrtStatusChangedEvent status)
            {
                _lastStatus = status;
            }

            foreach (Reader reader in _readers)
            {
                reader.Offer(drtEvent, this);
            }
        }
    }

    /// <summary>
    /// One stream's bounded queue. Events beyond <c>capacity</c> are dropped; a loss is remembered after the last
    /// queued event and handed out as one <see cref="DrtEventsDroppedEvent"/> in its place (that notice may take one
    /// place beyond the capacity).
    /// </summary>
    private sealed class Reader(int capacity)
    {
        private readonly Queue<DrtEvent> _queue = new();
        private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
        private long _lostAtTail;
        private bool _completed;

        public void Offer(DrtEvent drtEvent, EventHub hub)
        {
            lock (_queue)
            {
                if (_lostAtTail > 0 && _queue.Count < capacity)
                {
                    _queue.Enqueue(new DrtEventsDroppedEvent(_lostAtTail));
                    _lostAtTail = 0;
                }

                if (_lostAtTail == 0 && _queue.Count < capacity)
                {
                    _queue.Enqueue(drtEvent);
                }
                else
                {
                    _lostAtTail++;
                    Interlocked.Increment(ref hub._dropped);
                }
            }

            _wake.Writer.TryWrite(true);
        }

        public void Complete()
        {
            lock (_queue)
            {
                _completed = true;
            }

            _wake.Writer.TryWrite(true);
        }

        public async IAsyncEnumerable<DrtEvent> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            while (true)
            {
                DrtEvent? next = null;
                bool completed;
                lock (_queue)
                {
                    if (_queue.Count > 0)
                    {
                        next = _queue.Dequeue();
                    }
                    else if (_lostAtTail > 0)
                    {
                        next = new DrtEventsDroppedEvent(_lostAtTail);
                        _lostAtTail = 0;
                    }

                    completed = _completed;
                }

                if (next is not null)
                {
                    yield return next;
                }
                else if (completed)
                {
                    yield break;
                }
                else
                {
                    await _wake.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }
}
