using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Drt.Overlay.Transport;
using Xunit;

namespace Drt.Overlay.Tests.Transport;

/// <summary>The UDP transport over loopback only (127.0.0.1 and ::1). Every wait is bounded; nothing asserts a duration.</summary>
public sealed class UdpTransportTests
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task IPv4DatagramsTravelBothWaysWithTheirSource()
    {
        await using var a = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.Loopback });
        await using var b = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.Loopback });
        var atA = new Inbox();
        var atB = new Inbox();
        a.Start(atA);
        b.Start(atB);

        Assert.Equal(AddressFamily.InterNetwork, a.AddressFamily);
        Assert.True(a.TrySend([1, 2, 3], b.LocalEndpoints[0].Serialize()));
        Inbox.Datagram first = await atB.NextAsync();
        Assert.Equal([1, 2, 3], first.Bytes);
        Assert.Equal(a.LocalEndpoints[0], first.Source);

        // Answer to the address the datagram came from, as the engine does.
        Assert.True(b.TrySend([4], first.Source.Serialize()));
        Inbox.Datagram answer = await atA.NextAsync();
        Assert.Equal([4], answer.Bytes);
        Assert.Equal(1, b.Counters.Received);
        Assert.Equal(3, b.Counters.BytesReceived);
        Assert.Equal(1, a.Counters.Sent);
    }

    [Fact]
    public async Task IPv6DatagramsTravelOverLoopback()
    {
        if (!Socket.OSSupportsIPv6 || !CanBind(IPAddress.IPv6Loopback))
        {
            Assert.Skip("IPv6 loopback (::1) is not available on this host.");
        }

        await using var a = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.IPv6Loopback });
        await using var b = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.IPv6Loopback });
        var atB = new Inbox();
        a.Start(new Inbox());
        b.Start(atB);

        Assert.True(a.TrySend(new byte[1232], b.LocalEndpoints[0].Serialize()));
        Inbox.Datagram datagram = await atB.NextAsync();

        Assert.Equal(1232, datagram.Bytes.Length);
        Assert.Equal(a.LocalEndpoints[0], datagram.Source);
        Assert.Equal(AddressFamily.InterNetworkV6, datagram.Source.AddressFamily);
    }

    [Fact]
    public async Task DualStackTransportReportsIPv4PeersAsIPv4AndAnswersThem()
    {
        if (!Socket.OSSupportsIPv6)
        {
            Assert.Skip("This host has no IPv6, so there is no dual-stack socket to test.");
        }

        await using var dual = new UdpTransport(); // [::]:0, dual-stack
        await using var v4 = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.Loopback });
        var atDual = new Inbox();
        var atV4 = new Inbox();
        dual.Start(atDual);
        v4.Start(atV4);

        Assert.Equal(AddressFamily.InterNetworkV6, dual.AddressFamily);
        Assert.True(v4.TrySend([7], new IPEndPoint(IPAddress.Loopback, dual.LocalEndpoints[0].Port).Serialize()));
        Inbox.Datagram datagram = await atDual.NextAsync();
        Assert.Equal(v4.LocalEndpoints[0], datagram.Source); // 127.0.0.1:port, not ::ffff:127.0.0.1

        // An IPv4 destination and its IPv4-mapped form both work from the dual-stack socket.
        Assert.True(dual.TrySend([8], datagram.Source.Serialize()));
        Assert.True(dual.TrySend([9], new IPEndPoint(datagram.Source.Address.MapToIPv6(), datagram.Source.Port).Serialize()));
        Assert.Equal([8], (await atV4.NextAsync()).Bytes);
        Assert.Equal([9], (await atV4.NextAsync()).Bytes);
    }

    [Fact]
    public async Task WakesArriveOnTheReceiveThreadAndCoalesce()
    {
        await using var transport = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.Loopback });
        var inbox = new Inbox { BlockFirstWake = true };
        transport.Start(inbox);

        transport.Wake();
        await inbox.FirstWakeEntered.Task.WaitAsync(s_wait, TestContext.Current.CancellationToken);

        // While the first wake runs, any number of requests collapse into one more wake.
        for (int i = 0; i < 50; i++)
        {
            transport.Wake();
        }

        inbox.ReleaseFirstWake.SetResult();
        await inbox.WaitForWakesAsync(2);

        // Give a wrongly queued third wake the chance to arrive, bounded by a datagram that follows it.
        Assert.True(transport.TrySend([1], transport.LocalEndpoints[0].Serialize()));
        await inbox.NextAsync();
        Assert.Equal(2, inbox.Wakes);
        Assert.Equal(2, transport.Counters.Wakes);
        Assert.All(inbox.WakeThreads, id => Assert.Equal(inbox.DatagramThreads[0], id)); // the one receive thread
    }

    [Fact]
    public async Task OversizedSendsAreRefusedAndOversizedArrivalsDropped()
    {
        await using var small = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.Loopback, MaxDatagramSize = 600 });
        await using var big = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.Loopback, MaxDatagramSize = 2000 });
        var inbox = new Inbox();
        small.Start(inbox);
        big.Start(new Inbox());

        Assert.False(small.TrySend(new byte[601], big.LocalEndpoints[0].Serialize()));
        Assert.Equal(1, small.Counters.SendFailures);

        Assert.True(big.TrySend(new byte[1500], small.LocalEndpoints[0].Serialize()));
        Assert.True(big.TrySend([42], small.LocalEndpoints[0].Serialize()));
        Inbox.Datagram next = await inbox.NextAsync();

        Assert.Equal([42], next.Bytes);
        Assert.Equal(1, small.Counters.Oversized);
    }

    [Fact]
    public async Task ReceiveLoopSurvivesPortUnreachableAndReceiverExceptions()
    {
        await using var a = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.Loopback });
        await using var b = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.Loopback });
        var atA = new Inbox { ThrowOn = 0xEE };
        a.Start(atA);
        b.Start(new Inbox());

        // A port nobody listens on: the ICMP port-unreachable comes back to a's socket.
        int closedPort = FreeUdpPort();
        for (int i = 0; i < 5; i++)
        {
            a.TrySend([1], new IPEndPoint(IPAddress.Loopback, closedPort).Serialize());
        }

        // A receiver that throws.
        Assert.True(b.TrySend([0xEE], a.LocalEndpoints[0].Serialize()));
        Assert.True(b.TrySend([5], a.LocalEndpoints[0].Serialize()));

        Assert.Equal([5], (await atA.NextAsync()).Bytes);
        Assert.Equal(1, a.Counters.ReceiverExceptions);
        Assert.IsType<InvalidOperationException>(a.LastReceiverException);
    }

    [Fact]
    public async Task StartTwiceThrowsAndCloseIsIdempotent()
    {
        var transport = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.Loopback });
        transport.Start(new Inbox());

        Assert.Throws<InvalidOperationException>(() => transport.Start(new Inbox()));
        await transport.CloseAsync();
        await transport.CloseAsync();
        await transport.DisposeAsync();

        Assert.False(transport.TrySend([1], new IPEndPoint(IPAddress.Loopback, 9).Serialize()));
        Assert.Throws<InvalidOperationException>(() => transport.Start(new Inbox()));
        transport.Wake(); // ignored
    }

    [Fact]
    public async Task BadOptionsAndABusyPortGiveClearErrors()
    {
        DrtException bad = Assert.Throws<DrtException>(() => new UdpTransport(new UdpTransportOptions { MaxDatagramSize = 100 }));
        Assert.Equal(DrtError.InvalidSettings, bad.Error);
        Assert.Contains("MaxDatagramSize", bad.Message, StringComparison.Ordinal);
        Assert.Equal(DrtError.InvalidSettings, Assert.Throws<DrtException>(() => new UdpTransport(new UdpTransportOptions { Port = 70_000 })).Error);

        await using var first = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.Loopback });
        DrtException busy = Assert.Throws<DrtException>(() => new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.Loopback, Port = first.LocalEndpoints[0].Port }));
        Assert.Equal(DrtError.TransportFailed, busy.Error);
        Assert.IsType<SocketException>(busy.InnerException);
    }

    [Fact]
    public async Task SteadyStateSendAndReceiveAllocateNothing()
    {
        // Measured on each side's own thread: the sender's loop here, the receiver inside its callback.
        await using var a = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.Loopback });
        await using var b = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.Loopback });
        var echo = new AllocationEcho(b);
        a.Start(echo.Counter);
        b.Start(echo);
        SocketAddress to = b.LocalEndpoints[0].Serialize();
        byte[] payload = new byte[200];

        // Warm-up, then a measured run; each send waits for its echo so loopback never overflows a buffer.
        for (int round = 0; round < 2; round++)
        {
            echo.Reset(measure: round == 1);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 2_000; i++)
            {
                Assert.True(a.TrySend(payload, to));
#pragma warning disable xUnit1051 // a cancellation registration would allocate inside the measured loop; the wait is bounded
                Assert.True(echo.Counter.Echoed.Wait(s_wait), "an echo did not come back");
#pragma warning restore xUnit1051
            }

            long sendAllocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (round == 1)
            {
                Assert.Equal(0, sendAllocated);
                Assert.Equal(0, echo.ReceiveAllocated);
                Assert.True(echo.Measured >= 1_999, $"only {echo.Measured} datagrams measured on the receive side");
            }
        }
    }

    private static bool CanBind(IPAddress address)
    {
        try
        {
            using var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(address, 0));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int FreeUdpPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>Collects datagrams and wakes from the receive thread for the test thread to await.</summary>
    private sealed class Inbox : IDatagramReceiver
    {
        private readonly BlockingCollection<Datagram> _datagrams = [];
        private int _wakes;

        public bool BlockFirstWake { get; init; }

        public byte? ThrowOn { get; init; }

        public TaskCompletionSource FirstWakeEntered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource ReleaseFirstWake { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ConcurrentQueue<int> WakeThreadQueue { get; } = new();

        public List<int> WakeThreads => [.. WakeThreadQueue];

        public List<int> DatagramThreads { get; } = [];

        public int Wakes => Volatile.Read(ref _wakes);

        public void OnDatagram(ReadOnlyMemory<byte> datagram, SocketAddress source)
        {
            lock (DatagramThreads)
            {
                DatagramThreads.Add(Environment.CurrentManagedThreadId);
            }

            if (ThrowOn is byte poison && datagram.Span[0] == poison)
            {
                throw new InvalidOperationException("a receiver bug");
            }

            var template = new IPEndPoint(source.Family == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0);
            _datagrams.Add(new Datagram(datagram.ToArray(), (IPEndPoint)template.Create(source)));
        }

        public void OnWake()
        {
            WakeThreadQueue.Enqueue(Environment.CurrentManagedThreadId);
            if (Interlocked.Increment(ref _wakes) == 1 && BlockFirstWake)
            {
                FirstWakeEntered.SetResult();
                ReleaseFirstWake.Task.Wait(s_wait);
            }
        }

        public async Task<Datagram> NextAsync()
        {
            Datagram? next = null;
            await Task.Run(() => _datagrams.TryTake(out next, s_wait), TestContext.Current.CancellationToken);
            return next ?? throw new TimeoutException("no datagram arrived within 10 s");
        }

        public async Task WaitForWakesAsync(int count)
        {
            for (int i = 0; i < 1_000 && Wakes < count; i++)
            {
                await Task.Delay(10, TestContext.Current.CancellationToken);
            }

            Assert.Equal(count, Wakes);
        }

        public sealed record Datagram(byte[] Bytes, IPEndPoint Source);
    }

    /// <summary>Echoes every datagram from the receive thread and measures that thread's allocations.</summary>
    private sealed class AllocationEcho(UdpTransport self) : IDatagramReceiver
    {
        private long _first;
        private long _last;
        private bool _measure;

        public EchoCounter Counter { get; } = new();

        public long Measured { get; private set; }

        public long ReceiveAllocated => _last - _first;

        public void Reset(bool measure)
        {
            _measure = measure;
            Measured = 0;
            _first = 0;
            _last = 0;
        }

        public void OnDatagram(ReadOnlyMemory<byte> datagram, SocketAddress source)
        {
            if (_measure)
            {
                // First and last reading both taken at the same point of the callback, so the difference is what
                // the datagrams in between cost the receive thread (receive loop, delivery, echo send).
                long now = GC.GetAllocatedBytesForCurrentThread();
                if (Measured++ == 0)
                {
                    _first = now;
                }

                _last = now;
            }

            self.TrySend(datagram.Span, source);
        }

        public void OnWake()
        {
        }
    }

    private sealed class EchoCounter : IDatagramReceiver
    {
        public SemaphoreSlim Echoed { get; } = new(0);

        public void OnDatagram(ReadOnlyMemory<byte> datagram, SocketAddress source) => Echoed.Release();

        public void OnWake()
        {
        }
    }
}
