using BenchmarkDotNet.Attributes;
using Drt.Overlay.Engine;
using Drt.Overlay.Security;
using Drt.Overlay.Simulation;
using Drt.Overlay.Wire;

namespace Drt.Overlay.Benchmarks;

/// <summary>
/// Search throughput by security mode, measured in one run: 32 engines on the simulated network (real codecs, real
/// sessions, virtual time), each knowing every other, run exact searches 32 at a time until a batch is done. Every
/// datagram of every engine is counted in the figure, so it is the CPU cost of a whole search (lookups, inquire,
/// authority, on both ends). From Resolve up every answer is a signed record with a proof over the searcher's fresh
/// nonce (one Ed25519 signature at the owner, one verification at the searcher: the record itself is verified once and
/// cached). In Membership and Confidential the pairs have their sessions from the warm-up, so the figure is the steady
/// state: one ChaCha20-Poly1305 seal and open per datagram, no handshakes. DESIGN's goals: Resolve at least 70% of
/// None, Confidential at least 50%.
/// </summary>
[MemoryDiagnoser]
public class SecureSearchBenchmarks
{
    private const int Nodes = 32;
    private const int InFlight = 32;
    private const int Batch = 512;

    private readonly List<DrtIdentity> _identities = [];
    private VirtualTimeScheduler _scheduler = null!;
    private Overlay.Engine.Engine[] _engines = null!;
    private Key256[] _keys = null!;
    private Action<SearchOutcome> _completed = null!;
    private int _inFlight;
    private long _found;
    private int _next;
    private int _started;
    private int _count;
    private Func<bool> _progress = null!;

    /// <summary>The security mode of every engine in the ring.</summary>
    [Params(DrtSecurityMode.None, DrtSecurityMode.Resolve, DrtSecurityMode.Membership, DrtSecurityMode.Confidential)]
    public DrtSecurityMode Mode { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(7);
        _scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(_scheduler, seed: 7, new LinkProfile { Latency = TimeSpan.FromMilliseconds(1) });
        uint networkId = new EngineOptions().NetworkId;
        DrtIdentity root = Identity(random);
        DateTimeOffset now = _scheduler.GetUtcNow();
        _engines = new Overlay.Engine.Engine[Nodes];
        _keys = new Key256[Nodes];
        var transports = new SimulatedTransport[Nodes];
        for (int i = 0; i < Nodes; i++)
        {
            ISecurityProvider provider = NullSecurityProvider.Instance;
            if (Mode == DrtSecurityMode.Resolve)
            {
                provider = new DerivedKeySecurityProvider(Mode, Identity(random), networkId);
            }
            else if (Mode != DrtSecurityMode.None)
            {
                DrtIdentity identity = Identity(random);
                DrtCredential credential = DrtCredential.Issue(root, identity.PublicKey.Span, now.AddDays(-1), now.AddDays(30), "bench", networkId);
                provider = new DerivedKeySecurityProvider(Mode, identity, networkId, root.PublicKey, credential);
            }

            transports[i] = network.CreateTransport();
            var options = new EngineOptions { SecurityProvider = provider, MaintenancePeriod = TimeSpan.FromHours(1) };
            _engines[i] = new Overlay.Engine.Engine(options, transports[i], _scheduler, new Random(100 + i), new SeededRandomNumberGenerator(200 + i));
            _engines[i].Start();
            _keys[i] = Key256.Random(random);
            if (Mode != DrtSecurityMode.None)
            {
                _keys[i] = KeyDerivation.Derive(provider.PublicKey.Span, ""); // the key the engine's identity owns
            }

            _engines[i].AddLocalKey(_keys[i], new byte[100], _engines[i].Now());
        }

        for (int i = 0; i < Nodes; i++)
        {
            for (int j = 0; j < Nodes; j++)
            {
                if (i != j)
                {
                    _engines[i].Admit(_keys[j], transports[j].EndPoint);
                }
            }
        }

        _completed = outcome =>
        {
            _inFlight--;
            _found += outcome.Results.Count;
        };

        _progress = () => (_started < _count && _inFlight < InFlight) || _inFlight == 0; // room for the next search, or all done

        // Warm-up: every pair meets (sessions in secure modes), the pools and tables reach their size.
        _found = 0;
        RunSearches(Nodes * Nodes * 2);
        if (_found != Nodes * Nodes * 2)
        {
            throw new InvalidOperationException($"{Mode}: the warm-up found {_found} of {Nodes * Nodes * 2} keys.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        // Shows in the log that the secure modes really sealed every datagram and made no handshake while measured.
        long sealedCount = 0;
        long opened = 0;
        long handshakes = 0;
        long sent = 0;
        foreach (Overlay.Engine.Engine engine in _engines)
        {
            sealedCount += engine.SessionCounters.Sealed;
            opened += engine.SessionCounters.Opened;
            handshakes += engine.SessionCounters.HandshakesStarted;
            sent += engine.Counters.Sent;
        }

        Console.WriteLine($"// {Mode}: {_next} searches, {sent} datagrams sent, {sealedCount} sealed, {opened} opened, {handshakes} handshakes");
        foreach (Overlay.Engine.Engine engine in _engines)
        {
            engine.StopAsync().AsTask().GetAwaiter().GetResult();
        }

        foreach (DrtIdentity identity in _identities)
        {
            identity.Dispose();
        }
    }

    /// <summary>One exact search, 32 in flight over the ring (the figure is per search).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public long ExactSearch() => RunSearches(Batch);

    private long RunSearches(int count)
    {
        _count = count;
        _started = 0;
        while (_started < count || _inFlight > 0)
        {
            while (_started < count && _inFlight < InFlight)
            {
                int from = _next % Nodes;
                int to = (from + 1 + (_next / Nodes % (Nodes - 1))) % Nodes;
                _next++;
                Overlay.Engine.Engine engine = _engines[from];
                if (engine.StartSearch(SearchRequest.Exact(_keys[to]), _completed, engine.Now()))
                {
                    _inFlight++;
                }

                _started++;
            }

            _scheduler.RunUntil(_progress, TimeSpan.FromMinutes(1));
        }

        return _found;
    }

    private DrtIdentity Identity(Random random)
    {
        byte[] privateKey = new byte[DrtIdentity.PrivateKeyLength];
        random.NextBytes(privateKey);
        DrtIdentity identity = DrtIdentity.FromPrivateKey(privateKey);
        _identities.Add(identity);
        return identity;
    }
}
