using System.Net;
using System.Net.Sockets;
using Drt.Overlay.Transport;
using Xunit;

namespace Drt.Overlay.Simulation.Tests;

public sealed class SimulatedNetworkTests
{
    private static readonly TimeSpan s_latency = TimeSpan.FromMilliseconds(25);

    [Fact]
    public void DatagramArrivesIntactAfterTheLinkLatencyWithTheSendersAddress()
    {
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, seed: 1, new LinkProfile { Latency = s_latency });
        SimulatedTransport a = network.CreateTransport();
        SimulatedTransport b = network.CreateTransport();
        var receiver = new RecordingReceiver(scheduler);
        b.Start(receiver);
        byte[] payload = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

        Assert.True(a.TrySend(payload, b.EndPoint.Serialize()));
        Assert.Empty(receiver.Datagrams); // nothing is delivered synchronously
        scheduler.RunUntilIdle();

        RecordingReceiver.Received only = Assert.Single(receiver.Datagrams);
        Assert.Equal(payload, only.Bytes);
        Assert.Equal(a.EndPoint, only.Source);
        Assert.Equal(s_latency, only.At);
        Assert.Equal(1, network.Statistics.Delivered);
        Assert.Equal(payload.Length, network.Statistics.BytesDelivered);
        Assert.Equal(0, network.Statistics.InFlight);
        Assert.Equal(1, a.DatagramsSent);
        Assert.Equal(1, b.DatagramsReceived);
    }

    [Fact]
    public void AutomaticAddressesAreLoopbackShapedInDistinctSubnets()
    {
        var network = new SimulatedNetwork(new VirtualTimeScheduler(), seed: 1);
        var subnets = new HashSet<string>();
        for (int i = 0; i < 600; i++)
        {
            SimulatedTransport v4 = network.CreateTransport();
            SimulatedTransport v6 = network.CreateTransport(AddressFamily.InterNetworkV6);
            byte[] a4 = v4.EndPoint.Address.GetAddressBytes();
            byte[] a6 = v6.EndPoint.Address.GetAddressBytes();

            Assert.Equal(127, a4[0]);
            Assert.NotEqual(0, a4[3]);
            Assert.Equal(SimulatedNetwork.DefaultPort, v4.EndPoint.Port);
            Assert.Equal([0xFD, 0x00, 0x0D, 0x27], a6[..4]);
            Assert.True(subnets.Add($"{a4[1]}.{a4[2]}"), $"/24 of {v4.EndPoint} repeated");
            Assert.True(subnets.Add(Convert.ToHexString(a6[..6])), $"/48 of {v6.EndPoint} repeated");
            Assert.Equal(AddressFamily.InterNetworkV6, v6.AddressFamily);
        }
    }

    [Fact]
    public void IPv6EndpointsTalkToEachOtherAndReachIPv4ThroughMappedAddresses()
    {
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, seed: 2);
        SimulatedTransport v6a = network.CreateTransport(AddressFamily.InterNetworkV6);
        SimulatedTransport v6b = network.CreateTransport(AddressFamily.InterNetworkV6);
        SimulatedTransport v4 = network.CreateTransport();
        var atB = new RecordingReceiver(scheduler);
        var atV4 = new RecordingReceiver(scheduler);
        v6b.Start(atB);
        v4.Start(atV4);
        var mapped = new IPEndPoint(v4.EndPoint.Address.MapToIPv6(), v4.EndPoint.Port);

        Assert.True(v6a.TrySend([6], v6b.EndPoint.Serialize()));
        Assert.True(v6a.TrySend([4], mapped.Serialize()));
        Assert.False(v4.TrySend([0], v6b.EndPoint.Serialize())); // an IPv4-only endpoint has no route to IPv6
        scheduler.RunUntilIdle();

        Assert.Equal(v6a.EndPoint, Assert.Single(atB.Datagrams).Source);
        Assert.Equal(v6a.EndPoint, Assert.Single(atV4.Datagrams).Source);
        Assert.Equal(1, network.Statistics.SendsRefused);
    }

    [Fact]
    public async Task OversizedDatagramsAndSendsFromClosedEndpointsAreRefused()
    {
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, seed: 3, maxDatagramSize: 100);
        SimulatedTransport a = network.CreateTransport();
        SimulatedTransport b = network.CreateTransport();
        b.Start(new RecordingReceiver(scheduler));

        Assert.Equal(100, a.MaxDatagramSize);
        Assert.True(a.TrySend(new byte[100], b.EndPoint.Serialize()));
        Assert.False(a.TrySend(new byte[101], b.EndPoint.Serialize()));
        await a.CloseAsync();
        await a.CloseAsync(); // idempotent
        Assert.False(a.TrySend(new byte[1], b.EndPoint.Serialize()));

        Assert.Equal(2, network.Statistics.SendsRefused);
        Assert.Equal(1, network.Statistics.Sent);
    }

    [Fact]
    public void DatagramsToNowhereVanishLikeUdp()
    {
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, seed: 4);
        SimulatedTransport a = network.CreateTransport();

        Assert.True(a.TrySend([1], new IPEndPoint(IPAddress.Parse("127.9.9.9"), 1).Serialize()));
        scheduler.RunUntilIdle();

        Assert.Equal(1, network.Statistics.DroppedUnreachable);
        Assert.Equal(0, network.Statistics.Delivered);
    }

    [Fact]
    public void LossDropsAboutTheConfiguredFraction()
    {
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, seed: 5, new LinkProfile { Loss = 0.2 });
        (SimulatedTransport a, SimulatedTransport b, RecordingReceiver receiver) = Pair(network);

        for (int i = 0; i < 10_000; i++)
        {
            a.TrySend(BitConverter.GetBytes(i), b.EndPoint.Serialize());
        }

        scheduler.RunUntilIdle();

        // 10,000 Bernoulli(0.2) trials: the standard deviation is 40, so ±300 never fails for a fair generator.
        Assert.InRange(network.Statistics.Lost, 1_700, 2_300);
        Assert.Equal(10_000 - network.Statistics.Lost, receiver.Datagrams.Count);
    }

    [Fact]
    public void DuplicationDeliversSomeDatagramsTwice()
    {
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, seed: 6, new LinkProfile { Duplicate = 0.1 });
        (SimulatedTransport a, SimulatedTransport b, RecordingReceiver receiver) = Pair(network);

        for (int i = 0; i < 5_000; i++)
        {
            a.TrySend(BitConverter.GetBytes(i), b.EndPoint.Serialize());
        }

        scheduler.RunUntilIdle();

        Assert.InRange(network.Statistics.Duplicated, 350, 650);
        Assert.Equal(5_000 + network.Statistics.Duplicated, receiver.Datagrams.Count);
        var distinct = new HashSet<int>(receiver.Datagrams.ConvertAll(d => BitConverter.ToInt32(d.Bytes)));
        Assert.Equal(5_000, distinct.Count);
    }

    [Fact]
    public void JitterAndReorderingLetLaterDatagramsOvertakeEarlierOnes()
    {
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, seed: 7, new LinkProfile { Jitter = TimeSpan.FromMilliseconds(5), Reorder = 0.1 });
        (SimulatedTransport a, SimulatedTransport b, RecordingReceiver receiver) = Pair(network);

        for (int i = 0; i < 1_000; i++)
        {
            a.TrySend(BitConverter.GetBytes(i), b.EndPoint.Serialize());
            scheduler.RunFor(TimeSpan.FromMilliseconds(1));
        }

        scheduler.RunUntilIdle();

        List<int> order = receiver.Datagrams.ConvertAll(d => BitConverter.ToInt32(d.Bytes));
        int inversions = 0;
        for (int i = 1; i < order.Count; i++)
        {
            inversions += order[i] < order[i - 1] ? 1 : 0;
        }

        Assert.Equal(1_000, order.Count);
        Assert.True(inversions > 50, $"only {inversions} inversions");
        Assert.True(network.Statistics.Reordered > 0);
        Assert.All(receiver.Datagrams, d => Assert.True(d.At >= LinkProfile.Default.Latency));
    }

    [Fact]
    public void SpreadGivesEachPairAStableLatencyWithinItsBounds()
    {
        var scheduler = new VirtualTimeScheduler();
        var link = new LinkProfile { Latency = TimeSpan.FromMilliseconds(5), Spread = TimeSpan.FromMilliseconds(100) };
        var network = new SimulatedNetwork(scheduler, seed: 8, link);
        SimulatedTransport source = network.CreateTransport();
        var latencies = new List<TimeSpan>();
        for (int i = 0; i < 20; i++)
        {
            SimulatedTransport target = network.CreateTransport();
            var receiver = new RecordingReceiver(scheduler);
            target.Start(receiver);
            TimeSpan sentAt = scheduler.Elapsed;
            source.TrySend([1], target.EndPoint.Serialize());
            source.TrySend([2], target.EndPoint.Serialize());
            scheduler.RunUntilIdle();
            Assert.Equal(receiver.Datagrams[0].At, receiver.Datagrams[1].At);
            latencies.Add(receiver.Datagrams[0].At - sentAt);
        }

        Assert.All(latencies, l => Assert.InRange(l, link.Latency, link.Latency + link.Spread));
        Assert.True(new HashSet<TimeSpan>(latencies).Count > 10, "pairs should differ in latency");
    }

    [Fact]
    public void PerLinkProfileOverridesTheDefaultInOneDirection()
    {
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, seed: 9);
        SimulatedTransport a = network.CreateTransport();
        SimulatedTransport b = network.CreateTransport();
        var atA = new RecordingReceiver(scheduler);
        var atB = new RecordingReceiver(scheduler);
        a.Start(atA);
        b.Start(atB);
        network.SetLink(a, b, new LinkProfile { Loss = 1 });

        a.TrySend([1], b.EndPoint.Serialize());
        b.TrySend([2], a.EndPoint.Serialize());
        scheduler.RunUntilIdle();
        Assert.Empty(atB.Datagrams);
        Assert.Single(atA.Datagrams);

        network.ResetLinks();
        a.TrySend([3], b.EndPoint.Serialize());
        scheduler.RunUntilIdle();
        Assert.Single(atB.Datagrams);
    }

    [Fact]
    public void PartitionsDropTrafficAcrossTheCutIncludingInFlightUntilHealed()
    {
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, seed: 10);
        SimulatedTransport[] nodes = [.. Enumerable.Range(0, 4).Select(_ => network.CreateTransport())];
        RecordingReceiver[] receivers = [.. nodes.Select(n => { var r = new RecordingReceiver(scheduler); n.Start(r); return r; })];

        nodes[0].TrySend([1], nodes[2].EndPoint.Serialize()); // in flight when the cut happens
        network.Partition([nodes[0], nodes[1]]);
        nodes[0].TrySend([2], nodes[1].EndPoint.Serialize()); // same side
        nodes[3].TrySend([3], nodes[1].EndPoint.Serialize()); // across
        scheduler.RunUntilIdle();

        Assert.Empty(receivers[2].Datagrams);
        Assert.Equal([(byte)2], Assert.Single(receivers[1].Datagrams).Bytes);
        Assert.Equal(2, network.Statistics.DroppedByPartition);

        network.Heal();
        nodes[3].TrySend([4], nodes[1].EndPoint.Serialize());
        scheduler.RunUntilIdle();
        Assert.Equal(2, receivers[1].Datagrams.Count);
    }

    [Fact]
    public void CrashLosesInFlightDatagramsAndFreesTheAddressForARestart()
    {
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, seed: 11);
        SimulatedTransport a = network.CreateTransport();
        SimulatedTransport b = network.CreateTransport();
        var before = new RecordingReceiver(scheduler);
        b.Start(before);

        a.TrySend([1], b.EndPoint.Serialize());
        network.Crash(b);
        b.Wake();
        scheduler.RunUntilIdle();

        Assert.True(b.IsCrashed);
        Assert.False(b.IsAttached);
        Assert.Empty(before.Datagrams);
        Assert.Empty(before.Wakes);
        Assert.False(b.TrySend([9], a.EndPoint.Serialize()));
        Assert.Throws<InvalidOperationException>(() => b.Start(before));
        Assert.Throws<ArgumentException>(() => network.CreateTransport(a.EndPoint));

        SimulatedTransport restarted = network.CreateTransport(b.EndPoint);
        var after = new RecordingReceiver(scheduler);
        restarted.Start(after);
        a.TrySend([2], b.EndPoint.Serialize());
        scheduler.RunUntilIdle();

        Assert.Equal([(byte)2], Assert.Single(after.Datagrams).Bytes);
        Assert.Equal(1, network.Statistics.DroppedUnreachable);
    }

    [Fact]
    public void FilterDropsWhatItRejects()
    {
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, seed: 12);
        (SimulatedTransport a, SimulatedTransport b, RecordingReceiver receiver) = Pair(network);
        network.Filter = (source, destination, datagram) => datagram[0] % 2 == 0;

        for (byte i = 0; i < 10; i++)
        {
            a.TrySend([i], b.EndPoint.Serialize());
        }

        scheduler.RunUntilIdle();

        Assert.Equal([0, 2, 4, 6, 8], receiver.Datagrams.ConvertAll(d => (int)d.Bytes[0]));
        Assert.Equal(5, network.Statistics.DroppedByFilter);
    }

    [Fact]
    public void WakesCoalesceAndRunOnTheSimulationThread()
    {
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, seed: 13);
        SimulatedTransport a = network.CreateTransport();
        var receiver = new RecordingReceiver(scheduler);

        a.Wake(); // not started: ignored
        a.Start(receiver);
        Assert.Throws<InvalidOperationException>(() => a.Start(receiver));
        a.Wake();
        a.Wake();
        a.Wake();
        scheduler.RunUntilIdle();
        Assert.Single(receiver.Wakes);

        a.Wake();
        scheduler.RunUntilIdle();
        Assert.Equal(2, receiver.Wakes.Count);
    }

    [Fact]
    public void ThousandsOfEndpointsExchangeDatagrams()
    {
        const int Nodes = 5_000;
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, seed: 14, new LinkProfile { Spread = TimeSpan.FromMilliseconds(80), Jitter = TimeSpan.FromMilliseconds(2) });
        var transports = new SimulatedTransport[Nodes];
        var received = new int[Nodes];
        for (int i = 0; i < Nodes; i++)
        {
            transports[i] = network.CreateTransport();
            int index = i;
            transports[i].Start(new CountingReceiver(() => received[index]++));
        }

        var random = new Random(14);
        for (int i = 0; i < Nodes * 4; i++)
        {
            transports[random.Next(Nodes)].TrySend(new byte[64], transports[random.Next(Nodes)].EndPoint.Serialize());
        }

        scheduler.RunUntilIdle();

        Assert.Equal(Nodes * 4, network.Statistics.Delivered);
        Assert.Equal(Nodes * 4, received.Sum());
    }

    private static (SimulatedTransport A, SimulatedTransport B, RecordingReceiver AtB) Pair(SimulatedNetwork network)
    {
        SimulatedTransport a = network.CreateTransport();
        SimulatedTransport b = network.CreateTransport();
        var receiver = new RecordingReceiver(network.Scheduler);
        b.Start(receiver);
        return (a, b, receiver);
    }

    private sealed class CountingReceiver(Action onDatagram) : IDatagramReceiver
    {
        public void OnDatagram(ReadOnlyMemory<byte> datagram, SocketAddress source) => onDatagram();

        public void OnWake()
        {
        }
    }
}
