using BenchmarkDotNet.Attributes;
using Drt.Overlay.Engine;
using Drt.Overlay.Security;
using Drt.Overlay.Simulation;
using Drt.Overlay.Wire;

namespace Drt.Overlay.Benchmarks;

/// <summary>
/// Search throughput per security mode, in one run: real engines on the simulated network (real codecs and bytes, no
/// sockets, no latency), each search exact, from a random node to another node's key, to completion. In Resolve every
/// answer carries a signed record (verified once per version, then cache hits) and a fresh nonce proof: one Ed25519
/// signature at the owner and one verification at the searcher per search. DESIGN's goal: Resolve ≥ 70% of None.
/// </summary>
[MemoryDiagnoser]
public class SearchSecurityBenchmarks
{
    private const int Nodes = 16;
    private const int Batch = 64;
    private readonly List<DrtIdentity> _identities = [];
    private VirtualTimeScheduler _scheduler = null!;
    private Overlay.Engine.Engine[] _engines = null!;
    private Key256[] _keys = null!;
    private Random _random = null!;
    private int _done;

    /// <summary>The security mode every node runs.</summary>
    [Params(DrtSecurityMode.None, DrtSecurityMode.Resolve)]
    public DrtSecurityMode Mode { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(_scheduler, seed: 3, new LinkProfile());
        var random = new Random(3);
        _engines = new Overlay.Engine.Engine[Nodes];
        _keys = new Key256[Nodes];
        var endpoints = new System.Net.IPEndPoint[Nodes];
        for (int i = 0; i < Nodes; i++)
        {
            var options = new EngineOptions();
            Key256 key = Key256.Random(random);
            byte[] classifier = [];
            if (Mode != DrtSecurityMode.None)
            {
                byte[] privateKey = new byte[DrtIdentity.PrivateKeyLength];
                random.NextBytes(privateKey);
                DrtIdentity identity = DrtIdentity.FromPrivateKey(privateKey);
                _identities.Add(identity);
                options = options with { SecurityProvider = new DerivedKeySecurityProvider(Mode, identity, options.NetworkId) };
                key = identity.DeriveKey("");
            }

            SimulatedTransport transport = network.CreateTransport();
            _engines[i] = new Overlay.Engine.Engine(options, transport, _scheduler, new Random(i), new SeededRandomNumberGenerator(i));
            _engines[i].Start();
            _engines[i].AddLocalKey(key, new byte[64], _engines[i].Now(), classifier);
            _keys[i] = key;
            endpoints[i] = transport.EndPoint;
        }

        // A converged small ring: everybody knows everybody.
        for (int i = 0; i < Nodes; i++)
        {
            for (int j = 0; j < Nodes; j++)
            {
                _engines[i].Admit(_keys[j], endpoints[j]);
            }
        }

        _random = new Random(5);
        Search(); // warm: every record verified once, as in a running network
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (DrtIdentity identity in _identities)
        {
            identity.Dispose();
        }
    }

    /// <summary>One exact search (of a batch of 64 started together), lookup to owner's answer.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int Search()
    {
        _done = 0;
        for (int i = 0; i < Batch; i++)
        {
            int from = _random.Next(Nodes);
            int to = (from + 1 + _random.Next(Nodes - 1)) % Nodes;
            Overlay.Engine.Engine engine = _engines[from];
            if (!engine.StartSearch(SearchRequest.Exact(_keys[to]), outcome => _done += outcome.Results.Count, engine.Now()))
            {
                throw new InvalidOperationException("a search did not start");
            }
        }

        if (!_scheduler.RunUntil(() => _done == Batch, TimeSpan.FromMinutes(1)))
        {
            throw new InvalidOperationException($"{_done} of {Batch} searches found their key");
        }

        return _done;
    }
}
