using Drt.Overlay.Engine;
using Drt.Overlay.Routing;
using Drt.Overlay.Security;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;
using Xunit;

namespace Drt.Overlay.Simulation.Tests.Engine;

/// <summary>
/// How an owner proves its answers (docs/security.md, "MAC nonce proofs"): after a searcher's first search, with a MAC
/// under their pair key and no Ed25519 on either side; to a searcher it holds no pair key with, by agreeing one while
/// the agreement budget lasts, then by signing while the signature budget lasts, then not at all (Busy). Resolve-only
/// searchers that know the owner's key, real engines on the simulated network, virtual time.
/// </summary>
public sealed class NonceProofBudgetTests
{
    [Theory]
    [InlineData(DrtSecurityMode.Resolve, 71)]
    [InlineData(DrtSecurityMode.Confidential, 72)]
    public void AfterTheFirstSearchEveryAnswerIsAMacAndNoSignatureIsMadeOrChecked(DrtSecurityMode mode, int seed)
    {
        using var rig = new Rig(seed, mode, new EngineOptions());
        Overlay.Engine.Engine searcher = rig.AddSearcher();
        Assert.True(rig.Search(searcher).Results.Count == 1, $"seed {seed} {mode}: the first search failed");
        long verifications = searcher.RecordCache.Verifications;
        long signed = rig.Owner.RecordCounters.SignedProofs;
        long agreements = rig.Owner.PairKeys!.Agreements + searcher.PairKeys!.Agreements;
        long macs = rig.Owner.RecordCounters.MacProofs;

        for (int i = 0; i < 20; i++)
        {
            SearchOutcome outcome = rig.Search(searcher);
            Assert.True(outcome.Results.Count == 1 && outcome.Results[0].Key == rig.Key, $"seed {seed} {mode}: search {i} failed");
        }

        Assert.True(rig.Owner.RecordCounters.MacProofs - macs == 20, $"seed {seed} {mode}: {rig.Owner.RecordCounters.MacProofs - macs} of 20 answers were MACs");
        Assert.True(rig.Owner.RecordCounters.SignedProofs == signed, $"seed {seed} {mode}: the owner signed a proof");
        Assert.True(searcher.RecordCache.Verifications == verifications, $"seed {seed} {mode}: the searcher verified the record again");
        Assert.True(rig.Owner.PairKeys.Agreements + searcher.PairKeys.Agreements == agreements, $"seed {seed} {mode}: a pair key was agreed again");
        Assert.True(searcher.RecordCounters.ProofsRejected == 0, $"seed {seed} {mode}: a genuine proof was refused");
    }

    [Fact]
    public void AnOwnerAgreesThenSignsWithinItsBudgetsAndAnswersBusyBeyondThem()
    {
        const int Seed = 73;
        var budgets = new EngineOptions { PairAgreementRate = 1, PairAgreementBurst = 1, ProofSignatureRate = 1, ProofSignatureBurst = 1 };
        using var rig = new Rig(Seed, DrtSecurityMode.Resolve, budgets);
        Overlay.Engine.Engine first = rig.AddSearcher();
        Overlay.Engine.Engine second = rig.AddSearcher();
        Overlay.Engine.Engine third = rig.AddSearcher();

        // Within one virtual second: the first searcher gets the one agreement (a MAC), the second the one signature,
        // the third neither: Busy, so its search finds nothing and says why.
        Assert.True(rig.Search(first).Results.Count == 1, $"seed {Seed}: the first searcher was not answered");
        Assert.True(rig.Search(second).Results.Count == 1, $"seed {Seed}: the second searcher was not answered");
        SearchOutcome refused = rig.Search(third);
        Assert.True(refused.Results.Count == 0, $"seed {Seed}: the third searcher was answered beyond both budgets");
        Assert.Contains(refused.Path, hop => hop.Node.Key == rig.Key && (hop.Outcome & HopOutcome.TooBusy) != 0);
        RecordCounters owner = rig.Owner.RecordCounters;
        Assert.True(owner.MacProofs == 1 && owner.SignedProofs == 1 && owner.ProofsBusy >= 1, $"seed {Seed}: {owner.MacProofs} MACs, {owner.SignedProofs} signed, {owner.ProofsBusy} busy");
        Assert.True(second.RecordCounters.ProofsRejected == 0, $"seed {Seed}: the signed proof was refused");

        // A searcher the owner holds a pair key with costs no budget at all.
        Assert.True(rig.Search(first).Results.Count == 1, $"seed {Seed}: the first searcher was not answered again");
        Assert.Equal(2, owner.MacProofs);

        // The budgets refill with time: a second later the third searcher gets its pair key.
        rig.Scheduler.RunFor(TimeSpan.FromSeconds(2));
        Assert.True(rig.Search(third).Results.Count == 1, $"seed {Seed}: the third searcher was not answered after the refill");
        Assert.Equal(3, owner.MacProofs);
        Assert.Equal(1, owner.SignedProofs);
    }

    [Fact]
    public void AnInquiryWithoutAnExchangeKeyGetsTheRecordAndNoProof()
    {
        // A proof that binds no searcher proves nothing to anyone (every searcher checks it against its own exchange
        // key), so the owner spends neither a MAC nor a signature on it.
        const int Seed = 74;
        using var rig = new Rig(Seed, DrtSecurityMode.Resolve, new EngineOptions());
        WireContext context = new EngineOptions { SecurityProvider = rig.Owner.Security }.WireContext;
        SimulatedTransport asker = rig.CreateTransport();
        var inbox = new RecordingReceiver(rig.Scheduler);
        asker.Start(inbox);
        using var buffer = new PooledBufferWriter();
        WireCodec.Encode(WireHeader.Create(context, MessageType.Inquire, 5), new Inquire(InquireFlags.WantRecord | InquireFlags.WantAppData, rig.Key, new byte[16]), buffer);
        Assert.True(asker.TrySend(WireCodec.Pad(buffer, 1_000), rig.OwnerEndPoint.Serialize())); // paid for its answer
        rig.Scheduler.RunFor(TimeSpan.FromSeconds(1));

        Assert.Equal(DecodeStatus.Ok, WireCodec.TryDecode(Assert.Single(inbox.Datagrams).Bytes, context, out _, out Authority answer));
        Assert.True(answer.Record is { } record && record.Key == rig.Key && !record.ExchangeKey.IsEmpty, $"seed {Seed}: the signed record did not come back");
        Assert.True(answer.Proof.IsEmpty && answer.Flags == AuthorityFlags.None, $"seed {Seed}: a {answer.Proof.Length}-byte proof ({answer.Flags}) was made for no searcher");
        Assert.True(rig.Owner.RecordCounters.MacProofs + rig.Owner.RecordCounters.SignedProofs == 0, $"seed {Seed}: the owner spent a proof");
    }

    /// <summary>One owner with a derived key and any number of resolve-only searchers that know it; all of one mode.</summary>
    private sealed class Rig : IDisposable
    {
        private readonly SimulatedNetwork _network;
        private readonly List<DrtIdentity> _identities = [];
        private readonly List<Overlay.Engine.Engine> _engines = [];
        private readonly DrtSecurityMode _mode;
        private readonly DrtIdentity _root;
        private readonly SimulatedTransport _ownerTransport;
        private readonly int _seed;

        public Rig(int seed, DrtSecurityMode mode, EngineOptions ownerOptions)
        {
            _seed = seed;
            _mode = mode;
            _network = new SimulatedNetwork(Scheduler, seed, new LinkProfile { Latency = TimeSpan.FromMilliseconds(5) });
            _root = Identity();
            _ownerTransport = _network.CreateTransport();
            ISecurityProvider provider = Provider();
            Owner = Start(ownerOptions with { SecurityProvider = provider }, _ownerTransport);
            Key = KeyDerivation.Derive(provider.PublicKey.Span, "");
            Owner.Post(now => Owner.AddLocalKey(Key, [1, 2, 3], now));
            Scheduler.RunFor(TimeSpan.FromMilliseconds(10));
        }

        public VirtualTimeScheduler Scheduler { get; } = new();

        public Overlay.Engine.Engine Owner { get; }

        public Key256 Key { get; }

        public System.Net.IPEndPoint OwnerEndPoint => _ownerTransport.EndPoint;

        public SimulatedTransport CreateTransport() => _network.CreateTransport();

        public Overlay.Engine.Engine AddSearcher()
        {
            Overlay.Engine.Engine searcher = Start(new EngineOptions { SecurityProvider = Provider() }, _network.CreateTransport());
            searcher.Admit(Key, _ownerTransport.EndPoint);
            return searcher;
        }

        public SearchOutcome Search(Overlay.Engine.Engine searcher)
        {
            SearchOutcome? outcome = null;
            searcher.Post(now => Assert.True(searcher.StartSearch(SearchRequest.Exact(Key), o => outcome = o, now)));
            Assert.True(Scheduler.RunUntil(() => outcome is not null, TimeSpan.FromMinutes(1)), $"seed {_seed} {_mode}: the search did not end");
            return outcome!;
        }

        public void Dispose()
        {
            foreach (Overlay.Engine.Engine engine in _engines)
            {
                engine.StopAsync().AsTask().GetAwaiter().GetResult();
            }

            _identities.ForEach(identity => identity.Dispose());
        }

        private Overlay.Engine.Engine Start(EngineOptions options, SimulatedTransport transport)
        {
            int index = _engines.Count;
            var engine = new Overlay.Engine.Engine(options with { MaintenancePeriod = TimeSpan.FromHours(1) }, transport, Scheduler, new Random(_seed + index), new SeededRandomNumberGenerator(_seed + 100 + index));
            engine.Start();
            _engines.Add(engine);
            return engine;
        }

        private ISecurityProvider Provider()
        {
            uint networkId = new EngineOptions().NetworkId;
            DrtIdentity identity = Identity();
            if (_mode == DrtSecurityMode.Resolve)
            {
                return new DerivedKeySecurityProvider(_mode, identity, networkId);
            }

            DateTimeOffset now = Scheduler.GetUtcNow();
            DrtCredential credential = DrtCredential.Issue(_root, identity.PublicKey.Span, now.AddDays(-1), now.AddDays(1), "member", networkId);
            return new DerivedKeySecurityProvider(_mode, identity, networkId, _root.PublicKey, credential);
        }

        private DrtIdentity Identity()
        {
            byte[] seed = new byte[DrtIdentity.PrivateKeyLength];
            new Random((_seed * 31) + _identities.Count).NextBytes(seed);
            DrtIdentity identity = DrtIdentity.FromPrivateKey(seed);
            _identities.Add(identity);
            return identity;
        }
    }
}
