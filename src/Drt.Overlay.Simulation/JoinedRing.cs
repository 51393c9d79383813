using Drt.Overlay.Engine;
using Drt.Overlay.Routing;
using Drt.Overlay.Wire;

namespace Drt.Overlay.Simulation;

/// <summary>
/// A ring of engines on a <see cref="SimulatedNetwork"/> built by the real join protocol: each node registers one
/// random key and joins through a node already there. Checks compare it with the oracle, the live keys in order.
/// Shared by the simulation tests and <c>tools/Drt.Sim</c>.
/// </summary>
internal sealed class JoinedRing
{
    private readonly EngineOptions _options;

    /// <summary>Creates an empty ring; <paramref name="seed"/> decides keys, links and every engine's randomness.</summary>
    public JoinedRing(int seed, LinkProfile link, EngineOptions? options = null)
    {
        Seed = seed;
        _options = options ?? new EngineOptions();
        Scheduler = new VirtualTimeScheduler();
        Network = new SimulatedNetwork(Scheduler, seed, link);
        Random = new Random(seed);
    }

    /// <summary>The seed everything derives from.</summary>
    public int Seed { get; }

    /// <summary>Virtual time.</summary>
    public VirtualTimeScheduler Scheduler { get; }

    /// <summary>The network.</summary>
    public SimulatedNetwork Network { get; }

    /// <summary>The ring's own randomness (keys, choices of the caller).</summary>
    public Random Random { get; }

    /// <summary>Every node ever started, in join order.</summary>
    public List<Node> Nodes { get; } = [];

    /// <summary>The nodes not crashed.</summary>
    public List<Node> LiveNodes => Nodes.FindAll(n => n.Alive);

    /// <summary>
    /// Adjusts each node's options before it starts (its join index, the ring's options): a per-node security
    /// provider, for instance.
    /// </summary>
    public Func<int, EngineOptions, EngineOptions>? ConfigureNode { get; init; }

    /// <summary>The leaf-set side every node uses.</summary>
    public int LeafSetSide => _options.LeafSetSide;

    /// <summary>The maintenance period every node uses.</summary>
    public TimeSpan MaintenancePeriod => _options.MaintenancePeriod;

    /// <summary>Starts a node with one random key that joins through node <paramref name="bootstrapFrom"/> (−1: alone).</summary>
    public Node Join(int bootstrapFrom)
    {
        int index = Nodes.Count;
        SimulatedTransport transport = Network.CreateTransport();
        EngineOptions options = _options with
        {
            Bootstrap = bootstrapFrom < 0 ? [] : [Nodes[bootstrapFrom].Transport.EndPoint],
        };
        options = ConfigureNode?.Invoke(index, options) ?? options;
        var engine = new Overlay.Engine.Engine(options, transport, Scheduler, new Random((Seed * 1000) + index), new SeededRandomNumberGenerator((Seed * 7919) + index));
        Key256 key = Key256.Random(Random);
        if (options.SecurityProvider.Mode != Overlay.Security.DrtSecurityMode.None)
        {
            key = Overlay.Security.KeyDerivation.Derive(options.SecurityProvider.PublicKey.Span, ""); // the key its identity owns
        }

        byte[] appData = AppDataOf(key);
        var node = new Node(engine, transport, key, appData);
        Nodes.Add(node);
        engine.Start();
        engine.Post(now =>
        {
            engine.AddLocalKey(key, appData, now);
            engine.Join(now);
        });
        return node;
    }

    /// <summary>Joins <paramref name="count"/> nodes one after another, each through a random earlier node.</summary>
    public void JoinOneByOne(int count, TimeSpan spacing)
    {
        for (int i = 0; i < count; i++)
        {
            int existing = Nodes.Count;
            Join(bootstrapFrom: existing == 0 ? -1 : Random.Next(existing));
            Scheduler.RunFor(spacing);
        }
    }

    /// <summary>Stops a node dead: nothing reaches it or leaves it from now on.</summary>
    public void Crash(Node node)
    {
        Network.Crash(node.Transport);
        node.Alive = false;
    }

    /// <summary>
    /// The live nodes whose first key's leaf set differs from its true neighbours, with a description of the first.
    /// </summary>
    public int CountWrongLeafSets(out string first)
    {
        List<Node> live = LiveNodes;
        live.Sort((a, b) => a.Key.CompareTo(b.Key));
        int wrong = 0;
        first = "";
        var expectedLarger = new List<Key256>();
        var expectedSmaller = new List<Key256>();
        for (int i = 0; i < live.Count; i++)
        {
            LeafSet leafSet = live[i].Engine.Keys[0].LeafSet;
            expectedLarger.Clear();
            expectedSmaller.Clear();
            for (int d = 1; d <= Math.Min(LeafSetSide, live.Count - 1); d++)
            {
                expectedLarger.Add(live[(i + d) % live.Count].Key);
                expectedSmaller.Add(live[(i - d + live.Count) % live.Count].Key);
            }

            List<Key256> larger = [.. leafSet.Larger.ToArray().Select(n => n.Key)];
            List<Key256> smaller = [.. leafSet.Smaller.ToArray().Select(n => n.Key)];
            if (larger.SequenceEqual(expectedLarger) && smaller.SequenceEqual(expectedSmaller))
            {
                continue;
            }

            if (wrong++ == 0)
            {
                IEnumerable<Key256> expected = expectedLarger.Concat(expectedSmaller);
                IEnumerable<Key256> actual = larger.Concat(smaller);
                first = $"{Describe(live[i].Key)} misses {string.Join(", ", expected.Except(actual).Select(Describe))} and holds {string.Join(", ", actual.Except(expected).Select(Describe))}";
            }
        }

        return wrong;
    }

    /// <summary>Runs one search from <paramref name="from"/> to completion in virtual time; null if it never ended.</summary>
    public SearchOutcome? Search(Node from, SearchRequest request, TimeSpan timeout)
    {
        SearchOutcome? outcome = null;
        from.Engine.Post(now =>
        {
            if (!from.Engine.StartSearch(request, o => outcome = o, now))
            {
                outcome = new SearchOutcome([], []);
            }
        });
        Scheduler.RunUntil(() => outcome is not null, timeout);
        return outcome;
    }

    /// <summary>Routes <paramref name="payload"/> recursively from <paramref name="from"/> to the root of <paramref name="target"/>.</summary>
    public void Route(Node from, Key256 target, byte[] payload) =>
        from.Engine.Post(now => from.Engine.Route(target, channel: 0, payload, now));

    /// <summary>
    /// The application data a key publishes: its bytes repeated to <paramref name="size"/> (40 unless asked), so an
    /// answer's data can be checked against its key.
    /// </summary>
    public static byte[] AppDataOf(Key256 key, int size = 40)
    {
        var data = new byte[size];
        Span<byte> bytes = stackalloc byte[Key256.Size];
        key.WriteBigEndian(bytes);
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = bytes[i % Key256.Size];
        }

        return data;
    }

    private string Describe(Key256 key)
    {
        Node? node = Nodes.Find(n => n.Key == key);
        return $"{key.ToShortString()} (joined {Nodes.IndexOf(node!)}{(node is { Alive: false } ? ", crashed" : "")})";
    }

    /// <summary>One node of the ring.</summary>
    public sealed class Node(Overlay.Engine.Engine engine, SimulatedTransport transport, Key256 key, byte[] appData)
    {
        /// <summary>The engine.</summary>
        public Overlay.Engine.Engine Engine { get; } = engine;

        /// <summary>Its transport.</summary>
        public SimulatedTransport Transport { get; } = transport;

        /// <summary>The key it registered.</summary>
        public Key256 Key { get; } = key;

        /// <summary>The data it published with the key.</summary>
        public byte[] AppData { get; } = appData;

        /// <summary>False once crashed.</summary>
        public bool Alive { get; set; } = true;
    }
}
