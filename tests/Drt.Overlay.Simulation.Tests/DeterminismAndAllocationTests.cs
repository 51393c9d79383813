using System.Net;
using System.Net.Sockets;
using Drt.Overlay.Transport;
using Xunit;

namespace Drt.Overlay.Simulation.Tests;

public sealed class DeterminismAndAllocationTests
{
    private static readonly LinkProfile s_roughLink = new()
    {
        Latency = TimeSpan.FromMilliseconds(5),
        Spread = TimeSpan.FromMilliseconds(60),
        Jitter = TimeSpan.FromMilliseconds(10),
        Loss = 0.05,
        Duplicate = 0.02,
        Reorder = 0.05,
    };

    [Fact]
    public void SameSeedGivesTheSameTraceAndDifferentSeedsDiffer()
    {
        (ulong hash, long delivered, long lost) first = RunGossip(seed: 42);
        (ulong hash, long delivered, long lost) second = RunGossip(seed: 42);
        (ulong hash, long delivered, long lost) other = RunGossip(seed: 43);

        Assert.Equal(first, second);
        Assert.True(first.delivered > 1_000, $"too little traffic to mean anything: {first.delivered}");
        Assert.True(first.lost > 0);
        Assert.NotEqual(first.hash, other.hash);
    }

    [Fact]
    public void SteadyStateAllocatesNothingPerDatagram()
    {
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, seed: 7, s_roughLink with { Loss = 0, Duplicate = 0 });
        byte[] payload = new byte[200];

        // An IPv4 pair and an IPv6 pair, each echoing, with several datagrams in flight at once so that slots and
        // the event queue reach their steady size during warm-up.
        foreach (AddressFamily family in new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6 })
        {
            SimulatedTransport a = network.CreateTransport(family);
            SimulatedTransport b = network.CreateTransport(family);
            a.Start(new Echo(a));
            b.Start(new Echo(b));
            for (int i = 0; i < 8; i++)
            {
                a.TrySend(payload, b.EndPoint.Serialize());
            }
        }

        scheduler.RunFor(TimeSpan.FromSeconds(30));
        long deliveredBefore = network.Statistics.Delivered;
        long before = GC.GetAllocatedBytesForCurrentThread();
        scheduler.RunFor(TimeSpan.FromSeconds(60));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long delivered = network.Statistics.Delivered - deliveredBefore;

        Assert.True(delivered > 10_000, $"only {delivered} datagrams measured");
        Assert.Equal(0, allocated);
        Assert.Equal(16, network.Statistics.InFlight);
    }

    /// <summary>
    /// Every node forwards what it receives to a node of its own choosing (its own seeded generator) and ticks a
    /// timer that sends on its own, over a lossy, jittery link: lots of interleaving for the trace to pin down.
    /// </summary>
    private static (ulong Hash, long Delivered, long Lost) RunGossip(int seed)
    {
        const int Nodes = 50;
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, seed, s_roughLink);
        var transports = new SimulatedTransport[Nodes];
        for (int i = 0; i < Nodes; i++)
        {
            transports[i] = network.CreateTransport(i % 3 == 0 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork);
        }

        var timers = new List<ITimer>();
        for (int i = 0; i < Nodes; i++)
        {
            var node = new GossipNode(transports[i], transports, new Random(seed + i));
            transports[i].Start(node);
            timers.Add(scheduler.CreateTimer(static state => ((GossipNode)state!).Tick(), node, TimeSpan.FromMilliseconds(i), TimeSpan.FromMilliseconds(250)));
        }

        scheduler.RunFor(TimeSpan.FromSeconds(10));
        timers.ForEach(t => t.Dispose());
        return (network.TraceHash, network.Statistics.Delivered, network.Statistics.Lost);
    }

    private sealed class GossipNode(SimulatedTransport self, SimulatedTransport[] all, Random random) : IDatagramReceiver
    {
        private readonly byte[] _buffer = new byte[64];

        public void Tick()
        {
            random.NextBytes(_buffer);
            _buffer[0] = 3; // hops left
            Forward(_buffer);
        }

        public void OnDatagram(ReadOnlyMemory<byte> datagram, SocketAddress source)
        {
            if (datagram.Span[0] > 0)
            {
                datagram.Span.CopyTo(_buffer);
                _buffer[0]--;
                Forward(_buffer.AsSpan(0, datagram.Length));
            }
        }

        public void OnWake()
        {
        }

        private void Forward(ReadOnlySpan<byte> bytes)
        {
            SimulatedTransport target = all[random.Next(all.Length)];
            self.TrySend(bytes[..random.Next(1, bytes.Length + 1)], target.EndPoint.Serialize());
        }
    }

    /// <summary>Sends every datagram straight back to where it came from, with the address it was handed.</summary>
    private sealed class Echo(SimulatedTransport self) : IDatagramReceiver
    {
        public void OnDatagram(ReadOnlyMemory<byte> datagram, SocketAddress source) => self.TrySend(datagram.Span, source);

        public void OnWake()
        {
        }
    }
}
