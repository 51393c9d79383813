using Drt.Overlay.Engine;
using Drt.Overlay.Wire;
using Xunit;

namespace Drt.Overlay.Simulation.Tests.Engine;

/// <summary>
/// A ring of engines on a simulated network, wired without the join protocol: every node registers one random key
/// and is told (<see cref="Overlay.Engine.Engine.Admit"/>) of its true leaf-set neighbours and of a random sample of
/// the rest, as a converged Pastry network would know them. Searches then run the real protocol over real bytes.
/// </summary>
internal sealed class StaticRing
{
    private StaticRing(VirtualTimeScheduler scheduler, SimulatedNetwork network, Node[] nodes)
    {
        Scheduler = scheduler;
        Network = network;
        Nodes = nodes;
        Sorted = [.. nodes.OrderBy(n => n.Key)];
    }

    public VirtualTimeScheduler Scheduler { get; }

    public SimulatedNetwork Network { get; }

    public Node[] Nodes { get; }

    /// <summary>The nodes in key order: the oracle.</summary>
    public Node[] Sorted { get; }

    public static StaticRing Build(int seed, int count, LinkProfile link, int randomContacts = 24, int leafSetSide = 8, int appDataSize = 40, EngineOptions? options = null, Func<int, EngineOptions, EngineOptions>? configure = null)
    {
        options = (options ?? new EngineOptions()) with { LeafSetSide = leafSetSide };
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, seed, link);
        var random = new Random(seed);
        var nodes = new Node[count];
        for (int i = 0; i < count; i++)
        {
            SimulatedTransport transport = network.CreateTransport();
            EngineOptions nodeOptions = configure?.Invoke(i, options) ?? options;
            var engine = new Overlay.Engine.Engine(nodeOptions, transport, scheduler, new Random(seed ^ (i * 7919)), new SeededRandomNumberGenerator(seed ^ (i * 104729)));
            Key256 key = Key256.Random(random);
            if (nodeOptions.SecurityProvider.Mode != Overlay.Security.DrtSecurityMode.None)
            {
                key = Overlay.Security.KeyDerivation.Derive(nodeOptions.SecurityProvider.PublicKey.Span, ""); // the key its identity owns
            }

            engine.Start();
            nodes[i] = new Node(engine, transport, key, JoinedRing.AppDataOf(key, appDataSize));
            engine.AddLocalKey(key, nodes[i].AppData, engine.Now());
        }

        var ring = new StaticRing(scheduler, network, nodes);
        for (int i = 0; i < count; i++)
        {
            Node node = ring.Sorted[i];
            for (int d = 1; d <= leafSetSide; d++)
            {
                node.Admit(ring.Sorted[(i + d) % count]);
                node.Admit(ring.Sorted[((i - d) % count + count) % count]);
            }

            for (int c = 0; c < randomContacts; c++)
            {
                node.Admit(nodes[random.Next(count)]);
            }
        }

        return ring;
    }

    /// <summary>The registered key in [min, max] nearest <paramref name="target"/> (ties: clockwise), by brute force.</summary>
    public Node Nearest(Key256 target, Key256 min, Key256 max, Node? excluding = null)
    {
        Node? best = null;
        foreach (Node node in Nodes)
        {
            if (node != excluding && node.Key >= min && node.Key <= max && (best is null || Key256.CompareCloseness(target, node.Key, best.Key) < 0))
            {
                best = node;
            }
        }

        return best!;
    }

    /// <summary>Runs a search from <paramref name="from"/> and the simulation until it completes (bounded in virtual time).</summary>
    public SearchOutcome Search(Node from, SearchRequest request)
    {
        SearchOutcome? outcome = null;
        bool started = false;
        from.Engine.Post(now => started = from.Engine.StartSearch(request, o => outcome = o, now));
        bool done = Scheduler.RunUntil(() => outcome is not null, TimeSpan.FromMinutes(2));
        Assert.True(started, $"seed {Network.Seed}: the search did not start");
        Assert.True(done, $"seed {Network.Seed}: the search for {request.Target} from {from.Key} did not complete in 2 virtual minutes");
        return outcome!;
    }

    /// <summary>
    /// Routes <paramref name="count"/> messages, one each 5 ms of virtual time, from the nodes in turn to the targets in
    /// turn, then lets 5 s pass for the last ones to land. Allocates nothing itself (the allocation tests measure it).
    /// </summary>
    public void RouteBatch(Key256[] targets, byte[] payload, int count)
    {
        for (int i = 0; i < count; i++)
        {
            Overlay.Engine.Engine from = Nodes[i % Nodes.Length].Engine;
            from.Route(targets[i % targets.Length], 0, payload, from.Now());
            Scheduler.RunFor(TimeSpan.FromMilliseconds(5));
        }

        Scheduler.RunFor(TimeSpan.FromSeconds(5));
    }

    public sealed class Node(Overlay.Engine.Engine engine, SimulatedTransport transport, Key256 key, byte[] appData)
    {
        public Overlay.Engine.Engine Engine { get; } = engine;

        public SimulatedTransport Transport { get; } = transport;

        public Key256 Key { get; } = key;

        public byte[] AppData { get; } = appData;

        public void Admit(Node other)
        {
            if (other != this)
            {
                Engine.Admit(other.Key, other.Transport.EndPoint);
            }
        }
    }
}
