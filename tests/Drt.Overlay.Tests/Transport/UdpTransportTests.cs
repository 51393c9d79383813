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

    /// <summary>Further loopback addresses: Linux routes all of 127.0.0.0/8 to lo (other hosts may need an alias).</summary>
    private static readonly IPAddress s_second = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress s_third = IPAddress.Parse("127.0.0.3");

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
        LoopbackAddresses.SkipUnlessBindable(IPAddress.IPv6Loopback);

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

    [Fact]
    public async Task SeveralAddressesEachReceiveAndEveryAnswerLeavesFromTheAddressThatSuitsItsDestination()
    {
        LoopbackAddresses.SkipUnlessBindable(s_second, IPAddress.IPv6Loopback);
        await using var node = new UdpTransport(new UdpTransportOptions { BindAddresses = [IPAddress.Loopback, s_second, IPAddress.IPv6Loopback] });
        await using var v4 = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.Loopback });
        await using var second = new UdpTransport(new UdpTransportOptions { BindAddress = s_second });
        await using var third = new UdpTransport(new UdpTransportOptions { BindAddress = s_third });
        await using var v6 = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.IPv6Loopback });
        var atNode = new Inbox();
        var atV4 = new Inbox();
        var atSecond = new Inbox();
        var atThird = new Inbox();
        var atV6 = new Inbox();
        node.Start(atNode);
        v4.Start(atV4);
        second.Start(atSecond);
        third.Start(atThird);
        v6.Start(atV6);

        Assert.Equal([IPAddress.Loopback, s_second, IPAddress.IPv6Loopback], node.LocalEndpoints.Select(e => e.Address));
        Assert.Equal(AddressFamily.InterNetworkV6, node.AddressFamily); // it reaches IPv6 peers, and IPv4 ones through its IPv4 sockets

        // Each address receives, and reports its sources in their own family.
        Assert.True(v4.TrySend([1], node.LocalEndpoints[0].Serialize()));
        Assert.True(second.TrySend([2], node.LocalEndpoints[1].Serialize()));
        Assert.True(v6.TrySend([3], node.LocalEndpoints[2].Serialize()));
        var arrived = new Dictionary<byte, IPEndPoint>();
        for (int i = 0; i < 3; i++)
        {
            Inbox.Datagram datagram = await atNode.NextAsync();
            arrived[datagram.Bytes[0]] = datagram.Source;
        }

        Assert.Equal(v4.LocalEndpoints[0], arrived[1]);
        Assert.Equal(second.LocalEndpoints[0], arrived[2]);
        Assert.Equal(v6.LocalEndpoints[0], arrived[3]);

        // Answers leave from the address that suits the destination: its family, then the longest shared prefix
        // (127.0.0.3 shares 31 bits with 127.0.0.2 and 30 with 127.0.0.1); an IPv4-mapped destination is IPv4.
        Assert.True(node.TrySend([4], arrived[1].Serialize()));
        Assert.True(node.TrySend([5], arrived[2].Serialize()));
        Assert.True(node.TrySend([6], arrived[3].Serialize()));
        Assert.True(node.TrySend([7], third.LocalEndpoints[0].Serialize()));
        Assert.True(node.TrySend([8], new IPEndPoint(s_second.MapToIPv6(), second.LocalEndpoints[0].Port).Serialize()));
        Assert.Equal(node.LocalEndpoints[0], (await atV4.NextAsync()).Source);
        Assert.Equal(node.LocalEndpoints[1], (await atSecond.NextAsync()).Source);
        Assert.Equal(node.LocalEndpoints[2], (await atV6.NextAsync()).Source);
        Assert.Equal(node.LocalEndpoints[1], (await atThird.NextAsync()).Source);
        Inbox.Datagram mapped = await atSecond.NextAsync();
        Assert.Equal([8], mapped.Bytes);
        Assert.Equal(node.LocalEndpoints[1], mapped.Source);
        Assert.Equal(5, node.Counters.Sent);
        Assert.Equal(3, node.Counters.Received);
    }

    [Fact]
    public async Task ADestinationNoBoundAddressCanReachIsASendFailure()
    {
        LoopbackAddresses.SkipUnlessBindable(s_second);
        await using var node = new UdpTransport(new UdpTransportOptions { BindAddresses = [IPAddress.Loopback, s_second] });
        node.Start(new Inbox());

        Assert.Equal(AddressFamily.InterNetwork, node.AddressFamily);
        Assert.False(node.TrySend([1], new IPEndPoint(IPAddress.IPv6Loopback, 9).Serialize()));
        Assert.Equal((0, 1), (node.Counters.Sent, node.Counters.SendFailures));
    }

    [Fact]
    public async Task DeliveriesFromSeveralSocketsNeverOverlap()
    {
        LoopbackAddresses.SkipUnlessBindable(s_second, IPAddress.IPv6Loopback);
        await using var node = new UdpTransport(new UdpTransportOptions { BindAddresses = [IPAddress.Loopback, s_second, IPAddress.IPv6Loopback] });
        var detector = new OverlapDetector();
        node.Start(detector);
        UdpTransport[] senders =
        [
            new(new UdpTransportOptions { BindAddress = IPAddress.Loopback }),
            new(new UdpTransportOptions { BindAddress = s_second }),
            new(new UdpTransportOptions { BindAddress = IPAddress.IPv6Loopback }),
        ];
        try
        {
            // Three senders at once, one to each address, and wakes requested meanwhile; each delivery lingers, so
            // deliveries that were not serialized would overlap many times over.
            const int Each = 200;
            Task[] sending = [.. senders.Select((sender, i) => Task.Run(
                () =>
                {
                    SocketAddress to = node.LocalEndpoints[i].Serialize();
                    for (int n = 0; n < Each; n++)
                    {
                        sender.TrySend([(byte)i], to);
                        node.Wake();
                    }
                },
                TestContext.Current.CancellationToken))];
            await Task.WhenAll(sending).WaitAsync(s_wait, TestContext.Current.CancellationToken);
            for (int i = 0; i < 1_000 && detector.Datagrams < 3 * Each; i++)
            {
                await Task.Delay(10, TestContext.Current.CancellationToken);
            }

            Assert.Equal(3 * Each, detector.Datagrams);
            Assert.True(detector.Wakes > 0, "no wake was delivered");
            Assert.True(detector.Threads >= 3, $"deliveries came from {detector.Threads} thread(s); each socket has its own receive thread");
            Assert.Equal(0, detector.Overlaps);
        }
        finally
        {
            foreach (UdpTransport sender in senders)
            {
                await sender.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task SeveralAddressesWithAPortAllTakeItAndABusyOneFailsNamingIt()
    {
        LoopbackAddresses.SkipUnlessBindable(s_second, s_third);

        // Port 0: the first socket picks a free port, and the others take the same one (free here: only this class binds
        // 127.0.0.2 and 127.0.0.3, one test at a time).
        int port;
        await using (var free = new UdpTransport(new UdpTransportOptions { BindAddresses = [s_second, s_third] }))
        {
            port = free.LocalEndpoints[0].Port;
            Assert.Equal([new IPEndPoint(s_second, port), new IPEndPoint(s_third, port)], free.LocalEndpoints);
        }

        // A given port, taken on the second address: the error names that address, and the first socket is closed again.
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        holder.Bind(new IPEndPoint(s_second, port));
        DrtException busy = Assert.Throws<DrtException>(() => new UdpTransport(new UdpTransportOptions { BindAddresses = [s_third, s_second], Port = port }));
        Assert.Equal(DrtError.TransportFailed, busy.Error);
        Assert.Contains($"{s_second}:{port}", busy.Message, StringComparison.Ordinal);
        using var again = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        again.Bind(new IPEndPoint(s_third, port));
    }

    [Fact]
    public void BadAddressListsAreRefusedNamingTheSetting()
    {
        AssertRefused([], "has 0 addresses");
        AssertRefused([.. Enumerable.Range(1, UdpTransportOptions.MaxBindAddresses + 1).Select(i => new IPAddress([127, 0, 0, (byte)i]))], "1..8");
        AssertRefused([IPAddress.Loopback, IPAddress.IPv6Loopback, IPAddress.Loopback], "lists 127.0.0.1 twice");
        AssertRefused([IPAddress.Loopback, IPAddress.IPv6Any], "[1] is ::, which already receives on every local address");
        AssertRefused([IPAddress.Any, IPAddress.IPv6Loopback], "[0] is 0.0.0.0");
        AssertRefused([IPAddress.IPv6Loopback, IPAddress.Loopback.MapToIPv6()], "write it as 127.0.0.1");
        AssertRefused(null!, "is null");
        AssertRefused([IPAddress.Loopback, null!], "[1] is null");

        // One setting seen two ways: BindAddress is the first of BindAddresses, and setting it binds that one only; the
        // list is copied.
        var list = new List<IPAddress> { IPAddress.Loopback, IPAddress.IPv6Loopback };
        var options = new UdpTransportOptions { BindAddresses = list };
        list.Add(IPAddress.Any);
        Assert.Equal([IPAddress.Loopback, IPAddress.IPv6Loopback], options.BindAddresses);
        Assert.Equal(IPAddress.Loopback, options.BindAddress);
        Assert.Equal([IPAddress.IPv6Loopback], (options with { BindAddress = IPAddress.IPv6Loopback }).BindAddresses);
        Assert.Equal([IPAddress.IPv6Any], new UdpTransportOptions().BindAddresses);

        static void AssertRefused(IReadOnlyList<IPAddress> addresses, string expected)
        {
            DrtException error = Assert.Throws<DrtException>(() => new UdpTransport(new UdpTransportOptions { BindAddresses = addresses }));
            Assert.Equal(DrtError.InvalidSettings, error.Error);
            Assert.Contains("UdpTransportOptions.BindAddresses", error.Message, StringComparison.Ordinal);
            Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task SteadyStateSendAndReceiveOverSeveralSocketsAllocateNothing()
    {
        LoopbackAddresses.SkipUnlessBindable(IPAddress.IPv6Loopback);
        await using var a = new UdpTransport(new UdpTransportOptions { BindAddresses = [IPAddress.Loopback, IPAddress.IPv6Loopback] });
        await using var b = new UdpTransport(new UdpTransportOptions { BindAddresses = [IPAddress.Loopback, IPAddress.IPv6Loopback] });
        var echo = new AllocationEcho(b);
        a.Start(echo.Counter);
        b.Start(echo);
        SocketAddress[] to = [b.LocalEndpoints[0].Serialize(), b.LocalEndpoints[1].Serialize()];
        byte[] payload = new byte[200];

        // Every other datagram over IPv6: a's sends choose a socket each time, b's two receive threads echo through theirs.
        // Two warm-up rounds, then three measured: an allocation per datagram shows in every round, while the JIT's one-off
        // work on a hot thread (a tier-up or on-stack replacement landing mid-round; seen here as a rare 56 bytes, never
        // with DOTNET_TieredCompilation=0) shows in one at most, so one round must be clean on both sides.
        const int WarmUp = 2;
        var rounds = new List<(long Send, long Receive, long Measured, int Threads)>();
        for (int round = 0; round < WarmUp + 3; round++)
        {
            echo.Reset(measure: round >= WarmUp);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 2_000; i++)
            {
                Assert.True(a.TrySend(payload, to[i & 1]));
#pragma warning disable xUnit1051 // a cancellation registration would allocate inside the measured loop; the wait is bounded
                Assert.True(echo.Counter.Echoed.Wait(s_wait), "an echo did not come back");
#pragma warning restore xUnit1051
            }

            long sendAllocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (round >= WarmUp)
            {
                rounds.Add((sendAllocated, echo.ReceiveAllocated, echo.Measured, echo.ThreadsMeasuring(999)));
            }
        }

        Assert.All(rounds, r => Assert.True(r.Threads == 2, $"{r.Measured} datagrams measured, not 1,000 on each of two receive threads"));
        Assert.True(rounds.Exists(r => r.Send == 0 && r.Receive == 0), $"every round allocated (send, receive bytes): {string.Join("; ", rounds.Select(r => $"{r.Send}, {r.Receive}"))}");
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

    /// <summary>
    /// Echoes every datagram from the receive thread it arrived on and measures each receive thread's allocations (a
    /// transport with several sockets delivers from one thread per socket).
    /// </summary>
    private sealed class AllocationEcho(UdpTransport self) : IDatagramReceiver
    {
        // By thread id rather than ThreadLocal: its generic thread statics may get per-thread storage allocated when the
        // JIT replaces the callback's code mid-run (tiering, OSR), which the measurement would count.
        private readonly ConcurrentDictionary<int, Meter> _meters = new();
        private bool _measure;

        public EchoCounter Counter { get; } = new();

        /// <summary>Datagrams measured, over all receive threads.</summary>
        public long Measured => _meters.Values.Sum(m => m.Count);

        /// <summary>Receive threads that measured at least <paramref name="count"/> datagrams.</summary>
        public int ThreadsMeasuring(long count) => _meters.Values.Count(m => m.Count >= count);

        /// <summary>What the datagrams between each thread's first and last measured one cost that thread, summed.</summary>
        public long ReceiveAllocated => _meters.Values.Sum(m => m.Last - m.First);

        public void Reset(bool measure)
        {
            _measure = measure;
            foreach (Meter meter in _meters.Values)
            {
                (meter.Count, meter.First, meter.Last) = (0, 0, 0);
            }
        }

        public void OnDatagram(ReadOnlyMemory<byte> datagram, SocketAddress source)
        {
            Meter meter = _meters.GetOrAdd(Environment.CurrentManagedThreadId, static _ => new Meter()); // added in the warm-up round
            if (_measure)
            {
                // First and last reading both taken at the same point of the callback, so the difference is what
                // the datagrams in between cost the receive thread (receive loop, delivery, echo send).
                long now = GC.GetAllocatedBytesForCurrentThread();
                if (meter.Count++ == 0)
                {
                    meter.First = now;
                }

                meter.Last = now;
            }

            self.TrySend(datagram.Span, source);
        }

        public void OnWake()
        {
        }

        private sealed class Meter
        {
            public long Count;
            public long First;
            public long Last;
        }
    }

    /// <summary>Counts deliveries (datagrams and wakes) that began while another was still running, and the threads they came from.</summary>
    private sealed class OverlapDetector : IDatagramReceiver
    {
        private readonly ConcurrentDictionary<int, bool> _threads = new();
        private int _inside;
        private int _overlaps;
        private int _datagrams;
        private int _wakes;

        public int Overlaps => Volatile.Read(ref _overlaps);

        public int Datagrams => Volatile.Read(ref _datagrams);

        public int Wakes => Volatile.Read(ref _wakes);

        public int Threads => _threads.Count;

        public void OnDatagram(ReadOnlyMemory<byte> datagram, SocketAddress source)
        {
            Enter();
            Interlocked.Increment(ref _datagrams);
        }

        public void OnWake()
        {
            Enter();
            Interlocked.Increment(ref _wakes);
        }

        private void Enter()
        {
            _threads.TryAdd(Environment.CurrentManagedThreadId, true);
            if (Interlocked.Increment(ref _inside) != 1)
            {
                Interlocked.Increment(ref _overlaps);
            }

            Thread.SpinWait(20_000); // linger: another delivery that is not held back would start meanwhile
            Interlocked.Decrement(ref _inside);
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
