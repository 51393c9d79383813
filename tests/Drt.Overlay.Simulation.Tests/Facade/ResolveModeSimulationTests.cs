using Drt.Overlay.Security;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;
using Xunit;

namespace Drt.Overlay.Simulation.Tests.Facade;

/// <summary>
/// Security mode Resolve through the facade on the simulated network in virtual time: derived keys, signed records
/// verified once per version, owner-signed answers, updates, signed unregistration, expiry, and a network id shared by
/// nodes of two modes that must not mix. Each assertion message names the seed.
/// </summary>
public sealed class ResolveModeSimulationTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(501)]
    [InlineData(502)]
    public async Task AResolveRingOfThirtyFindsEveryKeyExactNearestAgreesWithTheOracleAndEachRecordIsVerifiedOnce(int seed)
    {
        using var identities = new Identities(seed);
        await using var sim = new SimulatedInstances(seed) { Configure = identities.Resolve };
        var random = new Random(seed);
        var owners = new Dictionary<Key256, DrtInstance>();
        for (int i = 0; i < 30; i++)
        {
            DrtInstance instance = sim.Open($"r{i}", i == 0 ? null : sim.EndpointOf(sim.Instances[0]));
            DrtRegistration registration = sim.Run(instance.RegisterDerivedKeyAsync($"node/{i}", SimulatedInstances.DataOf(instance.DeriveKey($"node/{i}")), Cancel));
            Assert.Equal(instance.DeriveKey($"node/{i}"), registration.Key);
            owners.Add(registration.Key, instance);
            sim.Scheduler.RunFor(TimeSpan.FromMilliseconds(300));
        }

        Assert.True(sim.RunUntil(() => sim.Instances.TrueForAll(i => i.Status == DrtStatus.Active), TimeSpan.FromMinutes(1)), $"seed {seed}: not every instance became Active");
        sim.RunFor(5 * SimulatedInstances.Period);

        foreach ((Key256 key, DrtInstance owner) in owners)
        {
            DrtInstance from = sim.Instances[(sim.Instances.IndexOf(owner) + 1 + random.Next(sim.Instances.Count - 1)) % sim.Instances.Count];
            DrtSearchResult found = Assert.Single(sim.Search(from, key));
            Assert.True(found.Match == DrtMatch.Exact && found.Key == key, $"seed {seed}: searched {key}, got {found.Match} {found.Key}");
            Assert.Equal(SimulatedInstances.DataOf(key), found.AppData.ToArray());
            Assert.Equal(sim.EndpointOf(owner), found.Endpoints[0]);
        }

        Key256[] keys = [.. owners.Keys];
        for (int i = 0; i < 20; i++)
        {
            Key256 target = Key256.Random(random);
            Key256 expected = keys.MinBy(k => k, Comparer<Key256>.Create((a, b) => Key256.CompareCloseness(target, a, b)));
            DrtInstance from = sim.Instances[random.Next(sim.Instances.Count)];
            DrtSearchResult near = Assert.Single(sim.Search(from, target, new DrtSearchOptions { MinKey = Key256.Zero, MaxKey = Key256.MaxValue, AllowLocalMatch = true }));
            Assert.True(near.Key == expected, $"seed {seed}: nearest to {target} was {near.Key}, expected {expected}");
        }

        // An honest ring refuses nothing.
        foreach (DrtInstance instance in sim.Instances)
        {
            Assert.True(instance.Engine.RecordCounters.Rejected + instance.Engine.RecordCounters.ProofsRejected == 0, $"seed {seed}: {instance.InstanceName} refused records or proofs of an honest ring");
        }

        // Verify once: many searches for one record cost one Ed25519 record verification at the searcher (the nonce
        // proof is fresh per search and checked each time); the rest are cache hits.
        DrtInstance searcher = sim.Instances[3];
        Key256 popular = keys.First(k => owners[k] != searcher);
        Assert.Single(sim.Search(searcher, popular));
        long verifications = searcher.Engine.RecordCache.Verifications;
        long hits = searcher.Engine.RecordCache.Hits;
        for (int i = 0; i < 25; i++)
        {
            Assert.Single(sim.Search(searcher, popular));
        }

        Assert.True(searcher.Engine.RecordCache.Verifications == verifications, $"seed {seed}: {searcher.Engine.RecordCache.Verifications - verifications} more record verifications for one unchanged record");
        Assert.True(searcher.Engine.RecordCache.Hits >= hits + 25, $"seed {seed}: {searcher.Engine.RecordCache.Hits - hits} cache hits for 25 searches");
    }

    [Fact]
    public async Task RegisterRefusesANonDerivedKeyAndADuplicateButTheNullProviderAllowsOneKeyInTwoInstances()
    {
        const int Seed = 511;
        using var identities = new Identities(Seed);
        await using var sim = new SimulatedInstances(Seed) { Configure = identities.Resolve };
        DrtInstance a = sim.Open("a", null);
        DrtInstance b = sim.Open("b", sim.EndpointOf(a));

        var error = Assert.Throws<DrtException>(() => sim.Run(a.RegisterKeyAsync(Key256.Random(new Random(Seed)), new byte[] { 1 }, Cancel)));
        Assert.Equal(DrtError.InvalidKey, error.Error);
        Assert.Contains("DeriveKey", error.Message, StringComparison.Ordinal);

        // Someone else's key: refused too.
        error = Assert.Throws<DrtException>(() => sim.Run(a.RegisterKeyAsync(b.DeriveKey("chat"), new byte[] { 1 }, Cancel)));
        Assert.Equal(DrtError.InvalidKey, error.Error);

        // The key derived under the empty classifier may be registered by key; by classifier twice is a duplicate.
        sim.Run(a.RegisterKeyAsync(a.DeriveKey(""), new byte[] { 1 }, Cancel));
        sim.Run(a.RegisterDerivedKeyAsync("chat", new byte[] { 2 }, Cancel));
        error = Assert.Throws<DrtException>(() => sim.Run(a.RegisterDerivedKeyAsync("chat", new byte[] { 3 }, Cancel)));
        Assert.Equal(DrtError.DuplicateKey, error.Error);
        error = Assert.Throws<DrtException>(() => sim.Run(a.RegisterKeyAsync(a.DeriveKey("chat"), new byte[] { 3 }, Cancel)));
        Assert.Equal(DrtError.DuplicateKey, error.Error);
        Assert.NotEqual(a.DeriveKey("chat"), b.DeriveKey("chat"));

        await using var open = new SimulatedInstances(Seed + 1);
        DrtInstance c = open.Open("c", null);
        DrtInstance d = open.Open("d", open.EndpointOf(c));
        Key256 shared = Key256.Random(new Random(Seed));
        open.Run(c.RegisterKeyAsync(shared, new byte[] { 1 }, Cancel));
        open.Run(d.RegisterKeyAsync(shared, new byte[] { 2 }, Cancel));
        Assert.Equal(DrtError.InvalidOperation, Assert.Throws<DrtException>(() => c.DeriveKey("chat")).Error);
    }

    [Fact]
    public async Task AProviderForAnotherNetworkIsRefusedAtOpen()
    {
        const int Seed = 512;
        using var identities = new Identities(Seed);
        await using var sim = new SimulatedInstances(Seed)
        {
            Configure = (i, settings) => settings with { SecurityProvider = new DerivedKeySecurityProvider(DrtSecurityMode.Resolve, identities[i], settings.NetworkId + 1) },
        };

        DrtException error = Assert.Throws<DrtException>(() => sim.Open("wrong", null));
        Assert.Equal(DrtError.CapabilityMismatch, error.Error);
        Assert.Contains("NetworkId", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUpdateIsSeenWithANewerSequenceAndAnUnregisterByItsOwnerRemovesTheKey()
    {
        const int Seed = 513;
        using var identities = new Identities(Seed);
        await using var sim = new SimulatedInstances(Seed) { Configure = identities.Resolve };
        var registrations = new List<DrtRegistration>();
        for (int i = 0; i < 6; i++)
        {
            DrtInstance instance = sim.Open($"u{i}", i == 0 ? null : sim.EndpointOf(sim.Instances[0]));
            registrations.Add(sim.Run(instance.RegisterDerivedKeyAsync("svc", new byte[] { (byte)i }, Cancel)));
            sim.Scheduler.RunFor(TimeSpan.FromMilliseconds(300));
        }

        Assert.True(sim.RunUntil(() => sim.Instances.TrueForAll(i => i.Status == DrtStatus.Active), TimeSpan.FromMinutes(1)), $"seed {Seed}: not every instance became Active");
        sim.RunFor(5 * SimulatedInstances.Period);
        DrtInstance searcher = sim.Instances[5];
        DrtRegistration target = registrations[2];
        Assert.Equal(new byte[] { 2 }, Assert.Single(sim.Search(searcher, target.Key)).AppData.ToArray());
        Assert.True(searcher.Engine.RecordCache.TryGetSequence(target.Key, out ulong before), $"seed {Seed}: the searcher remembers no record");

        sim.Run(target.UpdateAsync(new byte[] { 42, 42 }, Cancel));
        Assert.Equal(new byte[] { 42, 42 }, Assert.Single(sim.Search(searcher, target.Key)).AppData.ToArray());
        Assert.True(searcher.Engine.RecordCache.TryGetSequence(target.Key, out ulong after) && after > before, $"seed {Seed}: sequence {before} → {after} after an update");

        // The owner's signed revocation is honoured by its neighbours: the key is gone.
        sim.Run(target.UnregisterAsync());
        sim.RunFor(3 * SimulatedInstances.Period);
        Assert.Empty(sim.Search(searcher, target.Key));
        Assert.True(sim.Instances.Sum(i => i.Engine.RecordCounters.RevocationsAccepted) > 0, $"seed {Seed}: no signed revocation was honoured");
        Assert.True(sim.Instances.Sum(i => i.Engine.RecordCounters.RevocationsRejected) == 0, $"seed {Seed}: the owner's revocation was refused somewhere");
    }

    [Fact]
    public async Task AnUnregisterByAnyoneButTheOwnerIsRefusedAndTheKeyIsStillFound()
    {
        const int Seed = 516;
        using var identities = new Identities(Seed);
        await using var sim = new SimulatedInstances(Seed) { Configure = identities.Resolve };
        var registrations = new List<DrtRegistration>();
        for (int i = 0; i < 6; i++)
        {
            DrtInstance instance = sim.Open($"v{i}", i == 0 ? null : sim.EndpointOf(sim.Instances[0]));
            registrations.Add(sim.Run(instance.RegisterDerivedKeyAsync("svc", new byte[] { (byte)i }, Cancel)));
            sim.Scheduler.RunFor(TimeSpan.FromMilliseconds(300));
        }

        Assert.True(sim.RunUntil(() => sim.Instances.TrueForAll(i => i.Status == DrtStatus.Active), TimeSpan.FromMinutes(1)), $"seed {Seed}: not every instance became Active");
        sim.RunFor(5 * SimulatedInstances.Period);

        // A rogue member (its address proven to everyone, so its floods pass the anti-amplification gate and reach the
        // revocation check) floods revocations of the victim's key to every node: signed by the rogue's own identity
        // (the key is not derived from it), the victim's public key with a forged signature, and unsigned.
        DrtInstance victim = sim.Instances[2];
        Key256 key = registrations[2].Key;
        DrtInstance rogueMember = sim.Instances[4];
        SimulatedTransport rogue = sim.Transports[rogueMember];
        DrtIdentity rogueIdentity = identities[99];
        var rogueProvider = new DerivedKeySecurityProvider(DrtSecurityMode.Resolve, rogueIdentity, sim.Instances[0].Engine.Security is DerivedKeySecurityProvider p ? p.NetworkId : 0);
        var context = new Overlay.Engine.EngineOptions { SecurityProvider = rogueProvider }.WireContext;
        var entry = new RouteEntry(key, WireEndpoint.FromIPEndPoint(sim.EndpointOf(victim)));
        WireEndpoint[] endpoints = [entry.Endpoint];
        ulong expires = (ulong)sim.Scheduler.GetUtcNow().ToUnixTimeSeconds() + 3_600;
        SignedRecord Revocation(ReadOnlyMemory<byte> publicKey) =>
            new(key, publicKey, default, "svc"u8.ToArray(), endpoints, ReadOnlyMemory<byte>.Empty, ulong.MaxValue - 1, expires, RecordFlags.Revoked, new byte[64]);
        SignedRecord byRogue = Revocation(rogueIdentity.PublicKey);
        byte[] rogueSignature = new byte[64];
        Span<byte> digest = stackalloc byte[RecordSigning.DigestLength];
        RecordSigning.ComputeDigest(context.NetworkId, byRogue, digest);
        Span<byte> message = stackalloc byte[RecordSigning.SignedMessageLength];
        rogueProvider.Sign(message[..RecordSigning.WriteSignedMessage(digest, message)], rogueSignature);
        SignedRecord?[] forgeries = [byRogue with { Signature = rogueSignature }, Revocation(identities[2].PublicKey), null];

        using var buffer = new PooledBufferWriter();
        ulong id = 1;
        foreach (SignedRecord? forgery in forgeries)
        {
            foreach (DrtRegistration registration in registrations)
            {
                DrtInstance to = sim.Instances[registrations.IndexOf(registration)];
                if (to == victim || to == rogueMember)
                {
                    continue;
                }

                var flood = new Flood(FloodFlags.NoAck | FloodFlags.Revoke, registration.Key, entry, forgery, default);
                Assert.True(rogue.TrySend(WireCodec.Encode(WireHeader.Create(context, MessageType.Flood, id++), flood, buffer), sim.EndpointOf(to).Serialize()));
            }
        }

        sim.RunFor(3 * SimulatedInstances.Period);
        long refused = sim.Instances.Sum(i => i.Engine.RecordCounters.RevocationsRejected);
        Assert.True(refused >= 2 * (registrations.Count - 2), $"seed {Seed}: {refused} forged revocations refused");
        Assert.True(sim.Instances.Sum(i => i.Engine.RecordCounters.RevocationsAccepted) == 0, $"seed {Seed}: a forged revocation was honoured");
        foreach (DrtInstance from in sim.Instances.Where(i => i != victim))
        {
            Assert.True(sim.Search(from, key).Count == 1, $"seed {Seed}: {from.InstanceName} no longer finds the key after forged revocations");
        }
    }

    [Fact]
    public async Task ACandidateThatAnswersAtItsAddressButDoesNotOwnItsKeyIsNotAdmitted()
    {
        const int Seed = 517;
        using var identities = new Identities(Seed);
        await using var sim = new SimulatedInstances(Seed) { Configure = identities.Resolve };
        var registrations = new List<DrtRegistration>();
        for (int i = 0; i < 5; i++)
        {
            DrtInstance instance = sim.Open($"c{i}", i == 0 ? null : sim.EndpointOf(sim.Instances[0]));
            registrations.Add(sim.Run(instance.RegisterDerivedKeyAsync("svc", new byte[] { (byte)i }, Cancel)));
            sim.Scheduler.RunFor(TimeSpan.FromMilliseconds(300));
        }

        Assert.True(sim.RunUntil(() => sim.Instances.TrueForAll(i => i.Status == DrtStatus.Active), TimeSpan.FromMinutes(1)), $"seed {Seed}: not every instance became Active");
        sim.RunFor(3 * SimulatedInstances.Period);

        // The rogue announces itself as the key right next to each node (a key it cannot own: not derived from its
        // identity) and answers every check with its own signature over a record for that key.
        DrtIdentity rogueIdentity = identities[98];
        var rogueProvider = new DerivedKeySecurityProvider(DrtSecurityMode.Resolve, rogueIdentity, new DrtSettings().NetworkId);
        var context = new Overlay.Engine.EngineOptions { SecurityProvider = rogueProvider }.WireContext;
        SimulatedTransport rogue = sim.Network.CreateTransport();
        var endpoint = WireEndpoint.FromIPEndPoint(rogue.EndPoint);
        using var buffer = new PooledBufferWriter();
        int inquiries = 0;
        var receiver = new RecordingReceiver(sim.Scheduler)
        {
            OnReceive = (datagram, source) =>
            {
                if (WireCodec.TryDecode(datagram, context, out WireHeader header, out Inquire inquire) != DecodeStatus.Ok)
                {
                    return;
                }

                inquiries++;
                var record = new SignedRecord(inquire.ValidateKey, rogueIdentity.PublicKey, default, "svc"u8.ToArray(), new[] { endpoint }, new byte[] { 9 }, 5, (ulong)sim.Scheduler.GetUtcNow().ToUnixTimeSeconds() + 3_600, RecordFlags.None, default);
                byte[] signature = new byte[64];
                byte[] digest = new byte[RecordSigning.DigestLength];
                RecordSigning.ComputeDigest(context.NetworkId, record, digest);
                byte[] message = new byte[RecordSigning.SignedMessageLength];
                rogueProvider.Sign(message.AsSpan(0, RecordSigning.WriteSignedMessage(digest, message)), signature);
                record = record with { Signature = signature };
                byte[] proof = new byte[64];
                NonceProof.Sign(rogueProvider, context.NetworkId, record.Key, record.Sequence, digest, inquire.Nonce.Span, inquire.SearcherExchangeKey.Span, proof);
                var authority = new Authority(AuthorityFlags.None, inquire.ValidateKey, inquire.Nonce.ToArray(), record, proof);
                rogue.TrySend(WireCodec.Encode(WireHeader.Create(context, MessageType.Authority, header.MessageId), authority, buffer), source);
            },
        };
        rogue.Start(receiver);
        foreach (DrtRegistration registration in registrations)
        {
            DrtInstance to = sim.Instances[registrations.IndexOf(registration)];
            var sender = new RouteEntry(registration.Key + Key256.One, endpoint);
            var lookup = new Lookup(LookupFlags.None, LookupKind.Exact, registration.Key, registration.Key, registration.Key, 1, registration.Key, sender, default);
            Assert.True(rogue.TrySend(WireCodec.Encode(WireHeader.Create(context, MessageType.Lookup, 1), lookup, buffer), sim.EndpointOf(to).Serialize()));
        }

        sim.RunFor(3 * SimulatedInstances.Period);
        Assert.True(inquiries > 0, $"seed {Seed}: nobody checked the rogue's entry");
        Assert.True(sim.Instances.Sum(i => i.Engine.RecordCounters.InvalidKey) > 0, $"seed {Seed}: the rogue's records were not refused as not derived");
        foreach (DrtInstance instance in sim.Instances)
        {
            Assert.True(instance.Engine.Keys.All(k => !k.LeafSet.Contains(k.Key + Key256.One)), $"seed {Seed}: {instance.InstanceName} admitted the rogue's key");
        }
    }

    [Fact]
    public async Task ARecordItsProviderStopsVouchingForExpiresIsNotReturnedAndItsOwnerHearsUnresolvable()
    {
        const int Seed = 514;
        using var identities = new Identities(Seed);
        var providers = new List<SwitchableProvider>();
        await using var sim = new SimulatedInstances(Seed)
        {
            Configure = (i, settings) =>
            {
                var provider = new SwitchableProvider(new DerivedKeySecurityProvider(DrtSecurityMode.Resolve, identities[i], settings.NetworkId));
                providers.Add(provider);
                return settings with { SecurityProvider = provider, RecordValidity = TimeSpan.FromSeconds(40) };
            },
        };

        var registrations = new List<DrtRegistration>();
        for (int i = 0; i < 5; i++)
        {
            DrtInstance instance = sim.Open($"e{i}", i == 0 ? null : sim.EndpointOf(sim.Instances[0]));
            registrations.Add(sim.Run(instance.RegisterDerivedKeyAsync("svc", new byte[] { (byte)i }, Cancel)));
            sim.Scheduler.RunFor(TimeSpan.FromMilliseconds(300));
        }

        DrtInstance owner = sim.Instances[1];
        var events = new List<DrtRegistrationStateChangedEvent>();
        owner.RegistrationStateChanged += (_, e) =>
        {
            lock (events)
            {
                events.Add(e);
            }
        };

        Assert.True(sim.RunUntil(() => sim.Instances.TrueForAll(i => i.Status == DrtStatus.Active), TimeSpan.FromMinutes(1)), $"seed {Seed}: not every instance became Active");

        // While the provider vouches, the record is renewed again and again: still found long after its first expiry.
        sim.RunFor(TimeSpan.FromSeconds(100));
        DrtInstance searcher = sim.Instances[4];
        Assert.Single(sim.Search(searcher, registrations[1].Key));
        Assert.True(owner.Engine.RecordCounters.Renewed >= 2, $"seed {Seed}: {owner.Engine.RecordCounters.Renewed} renewals in 100 s of 40 s records");
        Assert.Empty(events);

        providers[1].Vouch = false;
        sim.RunFor(TimeSpan.FromSeconds(45));
        Assert.True(sim.RunUntil(() => { lock (events) { return events.Count > 0; } }, TimeSpan.FromSeconds(5)), $"seed {Seed}: no Unresolvable event");
        DrtRegistrationStateChangedEvent unresolvable = Assert.Single(events);
        Assert.Equal((registrations[1].Key, DrtRegistrationState.Unresolvable), (unresolvable.LocalKey, unresolvable.State));

        Assert.Empty(sim.Search(searcher, registrations[1].Key));
        Assert.True(searcher.Engine.RecordCounters.Expired > 0, $"seed {Seed}: the searcher never refused the expired record");
        Assert.Single(sim.Search(searcher, registrations[2].Key)); // the others are unaffected
    }

    [Fact]
    public async Task NoneAndResolveNodesOfOneNetworkIdDoNotMix()
    {
        const int Seed = 515;
        using var identities = new Identities(Seed);
        await using var sim = new SimulatedInstances(Seed) { Configure = (i, s) => i < 3 ? identities.Resolve(i, s) : s };
        for (int i = 0; i < 3; i++)
        {
            DrtInstance instance = sim.Open($"r{i}", i == 0 ? null : sim.EndpointOf(sim.Instances[0]));
            sim.Run(instance.RegisterDerivedKeyAsync("svc", new byte[] { 1 }, Cancel));
            sim.Scheduler.RunFor(TimeSpan.FromMilliseconds(300));
        }

        Assert.True(sim.RunUntil(() => sim.Instances.TrueForAll(i => i.Status == DrtStatus.Active), TimeSpan.FromMinutes(1)), $"seed {Seed}: the Resolve ring did not form");

        // A None node bootstrapping from the Resolve ring, with a key of its own: nobody ever answers it.
        DrtInstance outsider = sim.Open("none", sim.EndpointOf(sim.Instances[0]));
        sim.Run(outsider.RegisterKeyAsync(Key256.Random(new Random(Seed)), new byte[] { 2 }, Cancel));
        sim.RunFor(TimeSpan.FromSeconds(30));

        Assert.Equal(DrtStatus.Alone, outsider.Status);
        Assert.Empty(sim.Search(outsider, sim.Instances[1].DeriveKey("svc")));
        Assert.True(sim.Instances[0].Engine.Counters.Dropped(DecodeStatus.WrongSecurityMode) > 0, $"seed {Seed}: the Resolve node did not count the None node's datagrams");
        Assert.True(outsider.Engine.Counters.Dropped(DecodeStatus.WrongSecurityMode) == 0 || outsider.Engine.Counters.Received == outsider.Engine.Counters.Dropped(DecodeStatus.WrongSecurityMode), $"seed {Seed}: the None node took something from the Resolve ring");
        Assert.True(sim.Instances.Take(3).All(i => i.Status == DrtStatus.Active), $"seed {Seed}");
    }

    /// <summary>Seeded identities, disposed after the instances that use them.</summary>
    private sealed class Identities(int seed) : IDisposable
    {
        private readonly Dictionary<int, DrtIdentity> _identities = [];

        public DrtIdentity this[int index]
        {
            get
            {
                if (!_identities.TryGetValue(index, out DrtIdentity? identity))
                {
                    byte[] privateKey = new byte[DrtIdentity.PrivateKeyLength];
                    new Random((seed * 7_919) + index).NextBytes(privateKey);
                    identity = DrtIdentity.FromPrivateKey(privateKey);
                    _identities.Add(index, identity);
                }

                return identity;
            }
        }

        public DrtSettings Resolve(int index, DrtSettings settings) =>
            settings with { SecurityProvider = new DerivedKeySecurityProvider(DrtSecurityMode.Resolve, this[index], settings.NetworkId) };

        public void Dispose()
        {
            foreach (DrtIdentity identity in _identities.Values)
            {
                identity.Dispose();
            }
        }
    }

    /// <summary>A Resolve provider whose own keys it can stop vouching for (as a credential running out would).</summary>
    private sealed class SwitchableProvider(DerivedKeySecurityProvider inner) : ISecurityProvider
    {
        public volatile bool Vouch = true;

        public DrtSecurityMode Mode => inner.Mode;

        public ReadOnlyMemory<byte> PublicKey => inner.PublicKey;

        public int SignatureLength => inner.SignatureLength;

        public ReadOnlyMemory<byte> LocalCredential => inner.LocalCredential;

        public bool IsKeyAllowed(Key256 key, ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> classifier) =>
            (Vouch || !publicKey.SequenceEqual(inner.PublicKey.Span)) && inner.IsKeyAllowed(key, publicKey, classifier);

        public void Sign(ReadOnlySpan<byte> message, Span<byte> signature) => inner.Sign(message, signature);

        public bool Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature) => inner.Verify(publicKey, message, signature);

        public DrtCredentialStatus CheckCredential(ReadOnlySpan<byte> credential, ReadOnlySpan<byte> publicKey, DateTimeOffset now) => inner.CheckCredential(credential, publicKey, now);

        public ISessionHandshake? BeginSession() => inner.BeginSession();
    }
}
