using Drt.Overlay.Engine;
using Drt.Overlay.Security;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;
using Xunit;

namespace Drt.Overlay.Simulation.Tests.Engine;

/// <summary>
/// Membership and Confidential rings on the simulated network: members prove membership at first contact (hello),
/// every later datagram is sealed, non-members get nothing, credentials stop working at their expiry.
/// </summary>
public sealed class SecureRingTests
{
    private static readonly LinkProfile s_wan = RingExperiment.Wan;
    private static readonly TimeSpan s_period = new EngineOptions().MaintenancePeriod;
    private static readonly uint s_networkId = new EngineOptions().NetworkId;

    [Theory]
    [InlineData(DrtSecurityMode.Membership, 51)]
    [InlineData(DrtSecurityMode.Confidential, 52)]
    public void MembersJoinFindEveryKeyExactAndNearestAndRouteToTheRoot(DrtSecurityMode mode, int seed)
    {
        using var members = new Members(seed, mode);
        var captured = new List<byte[]>();
        JoinedRing ring = members.Ring(seed, s_wan);
        ring.Network.Filter = (_, _, datagram) =>
        {
            captured.Add(datagram.ToArray());
            return true;
        };

        ring.JoinOneByOne(30, TimeSpan.FromMilliseconds(300));
        ring.Scheduler.RunFor(2 * s_period);
        AssertLeafSetsAreTrue(ring, seed);

        // Every key found, exact, with its data, from a random other member.
        foreach (JoinedRing.Node owner in ring.Nodes)
        {
            JoinedRing.Node from = Other(ring, owner);
            SearchOutcome? outcome = ring.Search(from, SearchRequest.Exact(owner.Key), TimeSpan.FromMinutes(1));
            Assert.True(outcome is { Results.Count: 1 }, $"seed {seed}: {owner.Key} not found from {from.Key}");
            Assert.Equal(owner.Key, outcome!.Results[0].Key);
            Assert.Equal(owner.AppData, outcome.Results[0].AppData);
        }

        // Nearest searches against the oracle.
        for (int i = 0; i < 30; i++)
        {
            JoinedRing.Node from = ring.Nodes[ring.Random.Next(ring.Nodes.Count)];
            Key256 target = Key256.Random(ring.Random);
            var request = new SearchRequest(target, LookupKind.Nearest, Key256.Zero, Key256.MaxValue, 1, AllowLocal: false);
            SearchOutcome? outcome = ring.Search(from, request, TimeSpan.FromMinutes(1));
            JoinedRing.Node expected = ring.Nodes.Where(n => n != from).Aggregate((a, b) => Key256.CompareCloseness(target, a.Key, b.Key) <= 0 ? a : b);
            Assert.True(outcome is { Results.Count: 1 }, $"seed {seed}: nearest search for {target} found nothing");
            Assert.True(expected.Key == outcome!.Results[0].Key, $"seed {seed}: nearest to {target} is {expected.Key}, found {outcome.Results[0].Key}");
        }

        // Routes delivered at the root.
        var deliveredAt = new Dictionary<Key256, Key256>();
        foreach (JoinedRing.Node node in ring.Nodes)
        {
            node.Engine.DeliverHandler = (in RoutedMessage message, Key256 root) => deliveredAt[message.Target] = root;
        }

        var targets = new List<Key256>();
        for (int i = 0; i < 30; i++)
        {
            Key256 target = Key256.Random(ring.Random);
            targets.Add(target);
            ring.Route(ring.Nodes[ring.Random.Next(ring.Nodes.Count)], target, [1, 2, 3]);
            ring.Scheduler.RunFor(TimeSpan.FromMilliseconds(50));
        }

        ring.Scheduler.RunFor(TimeSpan.FromSeconds(10));
        foreach (Key256 target in targets)
        {
            Key256 root = ring.Nodes.Aggregate((a, b) => Key256.CompareCloseness(target, a.Key, b.Key) <= 0 ? a : b).Key;
            Assert.True(deliveredAt.TryGetValue(target, out Key256 at), $"seed {seed}: the route to {target} was not delivered");
            Assert.True(root == at, $"seed {seed}: the route to {target} was delivered at {at}, its root is {root}");
        }

        // Sessions were made, every datagram after the hellos was sealed, and nothing failed to open.
        Assert.True(ring.Nodes.All(n => n.Engine.SessionCounters.Sealed > 0 && n.Engine.SessionCounters.Opened > 0));
        Assert.Equal(0, ring.Nodes.Sum(n => n.Engine.SessionCounters.AuthenticationFailed));
        int hellos = 0;
        int withPlainKeys = 0;
        foreach (byte[] datagram in captured)
        {
            var type = (MessageType)datagram[WireHeader.TypeOffset];
            if (type is MessageType.Hello or MessageType.HelloReply or MessageType.HelloCookie)
            {
                hellos++;
                Assert.Equal(0, datagram[WireHeader.FlagsOffset] & (byte)HeaderFlags.Authenticated);
                continue;
            }

            Assert.True((datagram[WireHeader.FlagsOffset] & (byte)HeaderFlags.Authenticated) != 0, $"seed {seed}: a {type} went unsealed");
            withPlainKeys += ContainsAnyKey(ring, datagram) ? 1 : 0;
        }

        Assert.True(hellos > 0);
        Assert.True(ring.Nodes.Sum(n => n.Engine.SessionCounters.CookiesSent) > 0, $"seed {seed}: no first contact went through a cookie");

        // Sealed requests carry no padding (a datagram that opens proves its sender's address), and no answer was cut
        // or refused as too large for its request: no inquire is near the datagram cap, no error was sent at all.
        int largestInquire = captured.Where(d => (MessageType)d[WireHeader.TypeOffset] == MessageType.Inquire).Max(d => d.Length);
        Assert.True(largestInquire < 256, $"seed {seed}: an inquire of {largestInquire} bytes was padded");
        Assert.True(!captured.Any(d => (MessageType)d[WireHeader.TypeOffset] == MessageType.Error), $"seed {seed}: an error was sent between members");
        if (mode == DrtSecurityMode.Confidential)
        {
            // No app data, no registered key's 32 bytes, in any datagram after the handshake (joins, floods, searches,
            // authorities with records, routes: everything).
            Assert.True(withPlainKeys == 0, $"seed {seed}: {withPlainKeys} of {captured.Count} captured datagrams carry a key or app data in clear");
        }
        else
        {
            // Membership authenticates only: the same check sees the keys, so it would catch a leak above.
            Assert.True(withPlainKeys > 0, $"seed {seed}: the plaintext check found nothing even in Membership mode");
        }
    }

    [Fact]
    public void NonMembersGetNoAnswerAndAreInNoMembersTables()
    {
        const int Seed = 53;
        using var members = new Members(Seed, DrtSecurityMode.Membership);
        JoinedRing ring = members.Ring(Seed, s_wan);
        ring.JoinOneByOne(20, TimeSpan.FromMilliseconds(300));
        ring.Scheduler.RunFor(2 * s_period);
        AssertLeafSetsAreTrue(ring, Seed);

        // Outsiders: a credential from another root, an expired one, one not yet valid, and no security at all.
        using DrtIdentity otherRoot = members.NewIdentity();
        DateTimeOffset now = ring.Scheduler.GetUtcNow();
        ISecurityProvider[] outsiders =
        [
            members.Provider(otherRoot, now.AddDays(-1), now.AddDays(1)),
            members.Provider(members.Root, now.AddDays(-2), now.AddDays(-1)),
            members.Provider(members.Root, now.AddDays(1), now.AddDays(2)),
            NullSecurityProvider.Instance,
        ];

        var strangers = new List<(Overlay.Engine.Engine Engine, SimulatedTransport Transport, Key256 Key)>();
        foreach (ISecurityProvider provider in outsiders)
        {
            SimulatedTransport transport = ring.Network.CreateTransport();
            JoinedRing.Node entry = ring.Nodes[ring.Random.Next(ring.Nodes.Count)];
            var options = new EngineOptions { SecurityProvider = provider, Bootstrap = [entry.Transport.EndPoint] };
            var engine = new Overlay.Engine.Engine(options, transport, ring.Scheduler, new Random(Seed + strangers.Count), new SeededRandomNumberGenerator(Seed + strangers.Count));
            Key256 key = KeyDerivation.Derive(provider.PublicKey.Span, ""); // a key its identity owns (not that it helps it)
            engine.Start();
            engine.Post(now =>
            {
                engine.AddLocalKey(key, JoinedRing.AppDataOf(key), now);
                engine.Join(now);
                foreach (JoinedRing.Node member in ring.Nodes.Take(5))
                {
                    engine.Admit(member.Key, member.Transport.EndPoint); // as if it had learned them somewhere
                }
            });
            strangers.Add((engine, transport, key));
        }

        ring.Scheduler.RunFor(s_period);
        foreach ((Overlay.Engine.Engine engine, SimulatedTransport transport, Key256 _) in strangers)
        {
            JoinedRing.Node target = ring.Nodes[ring.Random.Next(ring.Nodes.Count)];
            SearchOutcome? outcome = null;
            engine.Post(now => engine.StartSearch(SearchRequest.Exact(target.Key), o => outcome = o, now));
            Assert.True(ring.Scheduler.RunUntil(() => outcome is not null, TimeSpan.FromMinutes(2)), $"seed {Seed}: an outsider's search never ended");
            Assert.Empty(outcome!.Results);
        }

        ring.Scheduler.RunFor(3 * s_period);
        foreach ((Overlay.Engine.Engine engine, SimulatedTransport transport, Key256 key) in strangers)
        {
            Assert.True(transport.DatagramsSent > 0 || engine.SessionCounters.SendsDropped > 0, $"seed {Seed}: an outsider tried nothing, so the test proves nothing");
            Assert.True(transport.DatagramsReceived == 0, $"seed {Seed}: an outsider ({engine.Counters.Sent} sent) received {transport.DatagramsReceived} datagrams");
            foreach (JoinedRing.Node member in ring.Nodes)
            {
                Assert.False(member.Engine.Keys[0].LeafSet.Contains(key), $"seed {Seed}: an outsider's key is in a member's leaf set");
                Assert.False(RoutingTableHolds(member.Engine.Keys[0].Routes, key), $"seed {Seed}: an outsider's key is in a member's routing table");
            }
        }

        Assert.True(ring.Nodes.Sum(n => n.Engine.SessionCounters.HandshakesRefused) >= 2, $"seed {Seed}: the members refused too few hellos");
        Assert.True(ring.Nodes.Sum(n => n.Engine.SessionCounters.Unauthenticated) > 0, $"seed {Seed}: the unsecured outsider's datagrams were not counted");
        Assert.Equal(0, ring.Nodes.Sum(n => n.Engine.SessionCounters.HandshakesFailed));
        AssertLeafSetsAreTrue(ring, Seed);
    }

    [Fact]
    public void AnExpiredCredentialStopsWorkingAtItsExpiry()
    {
        const int Seed = 54;
        using var members = new Members(Seed, DrtSecurityMode.Membership);
        DateTimeOffset notAfter = default;
        JoinedRing ring = members.Ring(Seed, s_wan, (i, now) =>
        {
            if (i != 5)
            {
                return now.AddDays(1);
            }

            // Credentials count whole seconds.
            notAfter = DateTimeOffset.FromUnixTimeSeconds(now.AddMinutes(2).ToUnixTimeSeconds());
            return notAfter;
        });
        DateTimeOffset start = ring.Scheduler.GetUtcNow();
        ring.JoinOneByOne(16, TimeSpan.FromMilliseconds(300));
        JoinedRing.Node mortal = ring.Nodes[5];
        TimeSpan expiry = notAfter - start;
        TimeSpan? expiredAt = null;
        mortal.Engine.CredentialExpired = () => expiredAt = ring.Scheduler.Elapsed;
        ring.Scheduler.RunFor(s_period);
        AssertLeafSetsAreTrue(ring, Seed);
        SearchOutcome? before = ring.Search(Other(ring, mortal), SearchRequest.Exact(mortal.Key), TimeSpan.FromMinutes(1));
        Assert.True(before is { Results.Count: 1 }, $"seed {Seed}: the mortal key was not found while its credential was valid");

        // Until a moment before expiry nothing changes; at expiry every member tears its session with it down.
        ring.Scheduler.RunFor(expiry - ring.Scheduler.Elapsed - TimeSpan.FromMilliseconds(100));
        Assert.Null(expiredAt);
        Assert.Equal(0, ring.Nodes.Sum(n => n.Engine.SessionCounters.Expired));
        Assert.True(ring.Nodes.Count(n => n != mortal && HasSession(n, mortal)) > 0, $"seed {Seed}: nobody had a session with the mortal member before its expiry");
        ring.Scheduler.RunFor(TimeSpan.FromMilliseconds(200));
        Assert.True(expiredAt is { } at && at >= expiry && at <= expiry + TimeSpan.FromMilliseconds(100), $"seed {Seed}: the expiry at {expiry} was noticed at {expiredAt}");
        Assert.Equal(0, mortal.Engine.SessionCounters.Active);
        Assert.True(ring.Nodes.Sum(n => n.Engine.SessionCounters.Expired) > 0, $"seed {Seed}: no member tore its session with the expired member down");
        Assert.True(ring.Nodes.All(n => n == mortal || !HasSession(n, mortal)), $"seed {Seed}: a member still holds a session with the expired member");

        // From then on it is an outsider: it is not found, finds nothing, and drops out of the leaf sets.
        ring.Scheduler.RunFor(3 * s_period);
        SearchOutcome? after = ring.Search(Other(ring, mortal), SearchRequest.Exact(mortal.Key), TimeSpan.FromMinutes(1));
        Assert.True(after is { Results.Count: 0 }, $"seed {Seed}: the expired member's key is still found");
        SearchOutcome? its = ring.Search(mortal, SearchRequest.Exact(ring.Nodes[0].Key), TimeSpan.FromMinutes(1));
        Assert.True(its is { Results.Count: 0 }, $"seed {Seed}: the expired member still finds keys");
        Assert.True(ring.Nodes.All(n => n == mortal || !n.Engine.Keys[0].LeafSet.Contains(mortal.Key)), $"seed {Seed}: the expired member is still in a leaf set");
        Assert.True(mortal.Engine.SessionCounters.HandshakesWhileExpired + mortal.Engine.SessionCounters.SendsDropped > 0);
    }

    [Fact]
    public void ReplayedAndTamperedDatagramsBetweenMembersAreDroppedAndCounted()
    {
        const int Seed = 55;
        using var members = new Members(Seed, DrtSecurityMode.Confidential);
        JoinedRing ring = members.Ring(Seed, s_wan);
        ring.JoinOneByOne(8, TimeSpan.FromMilliseconds(300));
        ring.Scheduler.RunFor(s_period);
        JoinedRing.Node a = ring.Nodes[1];
        JoinedRing.Node b = ring.Nodes.First(n => n != a && HasSession(n, a));

        // Take one sealed datagram from a to b off the wire (b never sees it; a retransmits under a new counter).
        byte[]? original = null;
        ring.Network.Filter = (source, destination, datagram) =>
        {
            if (original is null && source == a.Transport && destination == b.Transport && (datagram[WireHeader.FlagsOffset] & (byte)HeaderFlags.Authenticated) != 0)
            {
                original = datagram.ToArray();
                return false;
            }

            return true;
        };
        ring.Search(a, SearchRequest.Exact(b.Key), TimeSpan.FromMinutes(1));
        ring.Scheduler.RunUntil(() => original is not null, s_period);
        Assert.NotNull(original);
        ring.Network.Filter = null;
        ring.Scheduler.RunFor(TimeSpan.FromSeconds(2));

        SessionCounters counters = b.Engine.SessionCounters;
        long replayed = counters.Replayed;
        long failed = counters.AuthenticationFailed;
        long opened = counters.Opened;

        // From a's own address, so the source is a member with a session: altered copies first (their counter is
        // fresh, so each costs a tag check, which fails and leaves the replay window as it was).
        var destination = b.Transport.EndPoint.Serialize();
        byte[] body = (byte[])original!.Clone();
        body[WireHeader.Size + 1] ^= 0x40;
        byte[] header = (byte[])original.Clone();
        header[WireHeader.MessageIdOffset] ^= 0x01;
        byte[] tag = (byte[])original.Clone();
        tag[^1] ^= 0x80;
        byte[] counter = (byte[])original.Clone();
        counter[^20] ^= 0x01; // the counter (trailer: epoch, counter, tag) moved 2^24 ahead: the tag no longer matches
        foreach (byte[] tampered in new[] { body, header, tag, counter })
        {
            Assert.True(a.Transport.TrySend(tampered, destination));
        }

        ring.Scheduler.RunFor(TimeSpan.FromMilliseconds(100));
        Assert.True(failed + 4 == counters.AuthenticationFailed, $"seed {Seed}: {counters.AuthenticationFailed - failed} forgeries counted, 4 sent");
        Assert.Equal(opened, counters.Opened);

        // The original still opens once (late but authentic); its copy is a replay, refused before any cryptography.
        Assert.True(a.Transport.TrySend(original, destination));
        ring.Scheduler.RunFor(TimeSpan.FromMilliseconds(100));
        Assert.True(counters.Opened > opened, $"seed {Seed}: the authentic original did not open");
        Assert.True(a.Transport.TrySend(original, destination));
        Assert.True(a.Transport.TrySend(body, destination));
        ring.Scheduler.RunFor(TimeSpan.FromMilliseconds(100));
        Assert.True(replayed + 2 == counters.Replayed, $"seed {Seed}: {counters.Replayed - replayed} replays counted, 2 sent");
        Assert.True(failed + 4 == counters.AuthenticationFailed);
    }

    [Fact]
    public void HandshakesAreRateLimitedAndTheRestCompleteLater()
    {
        const int Seed = 56;
        using var members = new Members(Seed, DrtSecurityMode.Membership);
        var scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(scheduler, Seed, new LinkProfile { Latency = TimeSpan.FromMilliseconds(5) });
        var limits = new SessionOptions { HandshakeBurst = 4, HandshakesPerSecond = 2 };
        SimulatedTransport targetTransport = network.CreateTransport();
        ISecurityProvider targetProvider = members.Provider(scheduler.GetUtcNow());
        var target = new Overlay.Engine.Engine(new EngineOptions { SecurityProvider = targetProvider, Sessions = limits }, targetTransport, scheduler, new Random(Seed), new SeededRandomNumberGenerator(Seed));
        Key256 targetKey = KeyDerivation.Derive(targetProvider.PublicKey.Span, "");
        target.Start();
        target.Post(now => target.AddLocalKey(targetKey, [1], now));

        var callers = new List<Overlay.Engine.Engine>();
        for (int i = 1; i <= 16; i++)
        {
            var caller = new Overlay.Engine.Engine(new EngineOptions { SecurityProvider = members.Provider(scheduler.GetUtcNow()) }, network.CreateTransport(), scheduler, new Random(Seed + i), new SeededRandomNumberGenerator(Seed + i));
            caller.Start();
            caller.Post(now =>
            {
                caller.Admit(targetKey, targetTransport.EndPoint);
                caller.StartSearch(SearchRequest.Exact(targetKey), _ => { }, now);
            });
            callers.Add(caller);
        }

        scheduler.RunFor(TimeSpan.FromMilliseconds(200));
        Assert.Equal(4, target.SessionCounters.HandshakesAccepted);
        Assert.Equal(12, target.SessionCounters.HandshakesRateLimited);

        // The callers' hellos are retransmitted (1 s, 2 s); the bucket refills at 2/s; those left out try again later.
        scheduler.RunFor(TimeSpan.FromSeconds(60));
        Assert.True(target.SessionCounters.HandshakesAccepted <= 4 + (2 * 61), "more hellos answered than the bucket allows");
        Assert.True(target.SessionCounters.HandshakesAccepted >= 8, $"only {target.SessionCounters.HandshakesAccepted} handshakes accepted");
    }

    [Fact]
    public void SendKeysRotateByCountAndByTimeAndSessionsCarryOn()
    {
        const int Seed = 59;
        using var members = new Members(Seed, DrtSecurityMode.Confidential);
        var rekeying = new SessionOptions { RekeyAfterDatagrams = 64, RekeyAfter = TimeSpan.FromSeconds(20) };
        JoinedRing ring = members.Ring(Seed, s_wan with { Loss = 0 }, sessions: rekeying);
        ring.JoinOneByOne(12, TimeSpan.FromMilliseconds(300));
        ring.Scheduler.RunFor(3 * s_period);
        AssertLeafSetsAreTrue(ring, Seed);
        for (int i = 0; i < 40; i++)
        {
            JoinedRing.Node owner = ring.Nodes[i % ring.Nodes.Count];
            SearchOutcome? outcome = ring.Search(Other(ring, owner), SearchRequest.Exact(owner.Key), TimeSpan.FromMinutes(1));
            Assert.True(outcome is { Results.Count: 1 }, $"seed {Seed}: {owner.Key} not found across rotations");
        }

        long rotations = ring.Nodes.Sum(n => n.Engine.SessionCounters.Rotations);
        long sealedTotal = ring.Nodes.Sum(n => n.Engine.SessionCounters.Sealed);
        Assert.True(rotations >= sealedTotal / 128, $"seed {Seed}: {rotations} rotations for {sealedTotal} sealed datagrams");
        long failed = ring.Nodes.Sum(n => n.Engine.SessionCounters.AuthenticationFailed);
        long replayed = ring.Nodes.Sum(n => n.Engine.SessionCounters.Replayed);
        long unknownEpoch = ring.Nodes.Sum(n => n.Engine.SessionCounters.UnknownEpoch);
        Assert.True(failed + replayed == 0, $"seed {Seed}: {failed} failed, {replayed} replayed, {sealedTotal} sealed, {rotations} rotations");

        // Rotating every 64 datagrams, a datagram overtaken by more than 64 later ones to the same peer arrives two
        // epochs late and is dropped (the receiver keeps one previous epoch); at the default 2^20 that cannot happen.
        // Here it is a few datagrams in a thousand (seeds 59..78: at most 0.6%). At 16 per epoch the bursts of a join
        // made it 2-3%, clustered enough on some pairs that a searcher took its owner for silent.
        Assert.True(unknownEpoch <= sealedTotal / 100, $"seed {Seed}: {unknownEpoch} datagrams of an unknown epoch of {sealedTotal}");

        // An idle minute: the time-based rotation alone moves every established session on.
        long before = ring.Nodes.Sum(n => n.Engine.SessionCounters.Rotations);
        int sessions = ring.Nodes.Sum(n => n.Engine.SessionCounters.Active);
        ring.Scheduler.RunFor(TimeSpan.FromSeconds(61));
        Assert.True(ring.Nodes.Sum(n => n.Engine.SessionCounters.Rotations) - before >= 2 * sessions, $"seed {Seed}: time-based rotation did not run");
        AssertLeafSetsAreTrue(ring, Seed);
    }

    [Fact]
    public void TheSessionTableStaysWithinItsCap()
    {
        const int Seed = 57;
        const int Cap = 8;
        using var members = new Members(Seed, DrtSecurityMode.Confidential);
        JoinedRing ring = members.Ring(Seed, s_wan, sessions: new SessionOptions { MaxSessions = Cap });
        int peak = 0;
        for (int i = 0; i < 20; i++)
        {
            ring.JoinOneByOne(1, TimeSpan.FromMilliseconds(300));
            peak = Math.Max(peak, ring.Nodes.Max(n => n.Engine.SessionCounters.Active));
        }

        for (int round = 0; round < 40; round++)
        {
            ring.Scheduler.RunFor(TimeSpan.FromSeconds(1));
            peak = Math.Max(peak, ring.Nodes.Max(n => n.Engine.SessionCounters.Active));
            JoinedRing.Node from = ring.Nodes[ring.Random.Next(ring.Nodes.Count)];
            ring.Search(from, SearchRequest.Exact(ring.Nodes[ring.Random.Next(ring.Nodes.Count)].Key, allowLocal: true), TimeSpan.FromSeconds(30));
            peak = Math.Max(peak, ring.Nodes.Max(n => n.Engine.SessionCounters.Active));
        }

        Assert.True(peak <= Cap, $"seed {Seed}: a session table held {peak} sessions, cap {Cap}");
        Assert.True(ring.Nodes.Sum(n => n.Engine.SessionCounters.Evicted) > 0, $"seed {Seed}: no session was ever evicted, so the cap was not exercised");
    }

    [Fact]
    public void ReplayedHellosFromForgedSourcesGetACookieAndNothingElse()
    {
        const int Seed = 60;
        using var members = new Members(Seed, DrtSecurityMode.Membership);
        JoinedRing ring = members.Ring(Seed, s_wan, sessions: new SessionOptions { MaxSessions = 10 });
        byte[]? hello = null;
        ring.Network.Filter = (_, _, datagram) =>
        {
            // The largest hello: one that carries its sender's cookie (a cookie names an address, so it buys nothing elsewhere).
            if (datagram[WireHeader.TypeOffset] == (byte)MessageType.Hello && datagram.Length > (hello?.Length ?? 0))
            {
                hello = datagram.ToArray();
            }

            return true;
        };
        ring.JoinOneByOne(6, TimeSpan.FromMilliseconds(300));
        ring.Scheduler.RunFor(s_period);
        ring.Network.Filter = null;
        Assert.NotNull(hello);
        JoinedRing.Node victim = ring.Nodes[0];
        List<JoinedRing.Node> partners = ring.Nodes.FindAll(n => n != victim && HasSession(victim, n));
        Assert.True(partners.Count >= 4, $"seed {Seed}: the victim has only {partners.Count} sessions");

        // A recorded hello (valid credential and proof) sent from 30 other addresses: each gets a cookie no larger than
        // the hello and nothing else; no session slot, no handshake token, no signature check, so no live session can be
        // pushed out.
        SessionCounters counters = victim.Engine.SessionCounters;
        (long cookies, long accepted, long active, long limited, long evicted) = (counters.CookiesSent, counters.HandshakesAccepted, counters.Active, counters.HandshakesRateLimited, counters.Evicted);
        var destination = victim.Transport.EndPoint.Serialize();
        var receivers = new List<RecordingReceiver>();
        for (int i = 0; i < 30; i++)
        {
            SimulatedTransport rogue = ring.Network.CreateTransport();
            var receiver = new RecordingReceiver(ring.Scheduler);
            rogue.Start(receiver);
            receivers.Add(receiver);
            Assert.True(rogue.TrySend(hello, destination));
            ring.Scheduler.RunFor(TimeSpan.FromMilliseconds(50));
        }

        ring.Scheduler.RunFor(TimeSpan.FromSeconds(2));
        long answered = 0;
        foreach (RecordingReceiver.Received received in receivers.SelectMany(r => r.Datagrams))
        {
            Assert.True((MessageType)received.Bytes[WireHeader.TypeOffset] == MessageType.HelloCookie && received.Bytes.Length < hello!.Length, $"seed {Seed}: a forged source got a {(MessageType)received.Bytes[WireHeader.TypeOffset]} of {received.Bytes.Length} bytes");
            answered++;
        }

        Assert.True(counters.CookiesSent - cookies == 30 && answered == 30, $"seed {Seed}: {counters.CookiesSent - cookies} cookies sent, {answered} arrived, for 30 forged hellos");
        Assert.True(counters.HandshakesAccepted == accepted && counters.Active == active && counters.Evicted == evicted && counters.HandshakesRateLimited == limited, $"seed {Seed}: a forged hello made state or took a token");
        Assert.True(partners.All(p => HasSession(victim, p)), $"seed {Seed}: a replayed hello pushed a live session out");
    }

    [Fact]
    public void AHelloIsAcceptedOnlyWithItsAddressesFreshCookieAndUnaskedCookiesAreIgnored()
    {
        const int Seed = 62;
        using var members = new Members(Seed, DrtSecurityMode.Membership);
        JoinedRing ring = members.Ring(Seed, s_wan);
        byte[]? recorded = null;
        ring.Network.Filter = (_, _, datagram) =>
        {
            recorded ??= datagram[WireHeader.TypeOffset] == (byte)MessageType.Hello ? datagram.ToArray() : null;
            return true;
        };
        ring.JoinOneByOne(3, TimeSpan.FromMilliseconds(300));
        ring.Scheduler.RunFor(s_period);
        ring.Network.Filter = null;
        Assert.NotNull(recorded);
        JoinedRing.Node target = ring.Nodes[0];
        SessionCounters counters = target.Engine.SessionCounters;
        var context = new WireContext(s_networkId, 1, 0, (byte)DrtSecurityMode.Membership);
        Assert.Equal(DecodeStatus.Ok, WireCodec.TryDecode(recorded, context, out WireHeader header, out Hello hello));
        System.Net.SocketAddress to = target.Transport.EndPoint.Serialize();
        SimulatedTransport rogue = ring.Network.CreateTransport();
        var inbox = new RecordingReceiver(ring.Scheduler);
        rogue.Start(inbox);
        using var buffer = new PooledBufferWriter();
        byte[] WithCookie(ReadOnlyMemory<byte> cookie) => WireCodec.Encode(header, hello with { Cookie = cookie }, buffer).ToArray();
        byte[] CookieFrom(RecordingReceiver.Received received)
        {
            Assert.Equal(DecodeStatus.Ok, WireCodec.TryDecode(received.Bytes, context, out _, out HelloCookie answer));
            return answer.Cookie.ToArray();
        }

        // 1. A cookie nobody asked for (no hello of the target's is in flight to the sender) is dropped as unsolicited:
        //    no hello, no answer.
        long unsolicited = target.Engine.Counters.Unsolicited;
        long started = counters.HandshakesStarted;
        Assert.True(rogue.TrySend(WireCodec.Encode(WireHeader.Create(context, MessageType.HelloCookie, 77), new HelloCookie(new byte[WireLimits.CookieLength]), buffer), to));
        ring.Scheduler.RunFor(TimeSpan.FromSeconds(1));
        Assert.True(target.Engine.Counters.Unsolicited > unsolicited && counters.HandshakesStarted == started && inbox.Datagrams.Count == 0, $"seed {Seed}: an unasked cookie was acted on");

        // 2. The recorded hello from a new address gets a cookie; sent again with a cookie of the wrong bytes it gets
        //    another cookie; sent again with the right one it is accepted (the address has proved it receives).
        long accepted = counters.HandshakesAccepted;
        Assert.True(rogue.TrySend(WithCookie(default), to));
        ring.Scheduler.RunFor(TimeSpan.FromSeconds(1));
        byte[] cookie = CookieFrom(Assert.Single(inbox.Datagrams));
        byte[] wrong = (byte[])cookie.Clone();
        wrong[0] ^= 1;
        Assert.True(rogue.TrySend(WithCookie(wrong), to));
        ring.Scheduler.RunFor(TimeSpan.FromSeconds(1));
        Assert.True(inbox.Datagrams.Count == 2 && (MessageType)inbox.Datagrams[1].Bytes[WireHeader.TypeOffset] == MessageType.HelloCookie && counters.HandshakesAccepted == accepted, $"seed {Seed}: a wrong cookie was taken");
        Assert.True(rogue.TrySend(WithCookie(cookie), to));
        ring.Scheduler.RunFor(TimeSpan.FromSeconds(1));
        Assert.True(counters.HandshakesAccepted == accepted + 1 && (MessageType)inbox.Datagrams[^1].Bytes[WireHeader.TypeOffset] == MessageType.HelloReply, $"seed {Seed}: the hello with its fresh cookie was not answered");

        // 3. From another address a fresh cookie made for the first is refused (a cookie names its address), and so is
        //    a cookie more than two time slots old from its own address.
        SimulatedTransport other = ring.Network.CreateTransport();
        var otherInbox = new RecordingReceiver(ring.Scheduler);
        other.Start(otherInbox);
        Assert.True(other.TrySend(WithCookie(default), to));
        ring.Scheduler.RunFor(TimeSpan.FromSeconds(1));
        byte[] old = CookieFrom(Assert.Single(otherInbox.Datagrams));
        Assert.True(other.TrySend(WithCookie(cookie), to));
        ring.Scheduler.RunFor(TimeSpan.FromSeconds(1));
        Assert.True(counters.HandshakesAccepted == accepted + 1 && otherInbox.Datagrams.Count == 2, $"seed {Seed}: a cookie for another address was taken");
        ring.Scheduler.RunFor(TimeSpan.FromSeconds(61));
        Assert.True(other.TrySend(WithCookie(old), to));
        ring.Scheduler.RunFor(TimeSpan.FromSeconds(1));
        Assert.True(counters.HandshakesAccepted == accepted + 1 && (MessageType)otherInbox.Datagrams[^1].Bytes[WireHeader.TypeOffset] == MessageType.HelloCookie, $"seed {Seed}: a stale cookie was taken");
    }

    [Fact]
    public void ASideHoldingThePeersRenegotiationDoesNotStartItsOwnAndNoDatagramFailsAfterwards()
    {
        const int Seed = 61;
        using var members = new Members(Seed, DrtSecurityMode.Membership);
        JoinedRing ring = members.Ring(Seed, s_wan);
        ring.JoinOneByOne(2, TimeSpan.FromMilliseconds(300));
        ring.Scheduler.RunFor(2 * s_period);
        JoinedRing.Node a = ring.Nodes[0];
        JoinedRing.Node b = ring.Nodes[1];
        Assert.True(HasSession(a, b) && HasSession(b, a), $"seed {Seed}: no session to start from");

        // 1. B's answers stop reaching A: after two unanswered requests A renegotiates, and B accepts A's hello (a newer
        //    session B keeps for opening until A sends under it, which A cannot finish: B's reply is lost too).
        ring.Network.Filter = (from, _, _) => from != b.Transport;
        long started = a.Engine.SessionCounters.HandshakesStarted;
        long accepted = b.Engine.SessionCounters.HandshakesAccepted;
        ring.Search(a, SearchRequest.Exact(b.Key), TimeSpan.FromSeconds(30));
        Assert.True(ring.Scheduler.RunUntil(() => b.Engine.SessionCounters.HandshakesAccepted > accepted, TimeSpan.FromSeconds(10)), $"seed {Seed}: A did not renegotiate ({a.Engine.SessionCounters.HandshakesStarted - started} hellos)");

        // 2. Now A's datagrams are lost as well, and B's requests go unanswered: B would renegotiate too, but it holds
        //    A's renegotiation (accepted moments ago) and leaves it to finish.
        ring.Network.Filter = (_, _, _) => false;
        long bStarted = b.Engine.SessionCounters.HandshakesStarted;
        long timeouts = b.Engine.Counters.Timeouts;
        b.Engine.Post(now => b.Engine.StartSearch(SearchRequest.Exact(a.Key), _ => { }, now));
        ring.Scheduler.RunFor(TimeSpan.FromSeconds(3));
        Assert.True(b.Engine.Counters.Timeouts - timeouts >= 2, $"seed {Seed}: B saw only {b.Engine.Counters.Timeouts - timeouts} timeouts");
        Assert.True(b.Engine.SessionCounters.HandshakesStarted == bStarted, $"seed {Seed}: B started a renegotiation of its own on top of A's");

        // 3. Healed: both find each other's keys, and not one datagram failed its tag on either side.
        ring.Network.Filter = null;
        ring.Scheduler.RunFor(2 * s_period);
        Assert.True(ring.Search(a, SearchRequest.Exact(b.Key), TimeSpan.FromMinutes(1)) is { Results.Count: 1 }, $"seed {Seed}: A does not find B after the heal");
        Assert.True(ring.Search(b, SearchRequest.Exact(a.Key), TimeSpan.FromMinutes(1)) is { Results.Count: 1 }, $"seed {Seed}: B does not find A after the heal");
        Assert.True(a.Engine.SessionCounters.AuthenticationFailed + b.Engine.SessionCounters.AuthenticationFailed == 0, $"seed {Seed}: datagrams failed their tag after the renegotiations");
    }

    [Fact]
    public void SealingAndOpeningAllocateNothingInSteadyState()
    {
        const int Seed = 58;
        using var members = new Members(Seed, DrtSecurityMode.Confidential);
        var noMaintenance = new EngineOptions { MaintenancePeriod = TimeSpan.FromHours(1) };
        StaticRing ring = StaticRing.Build(
            Seed,
            count: 24,
            new LinkProfile { Latency = TimeSpan.FromMilliseconds(10) },
            options: noMaintenance,
            configure: (_, o) => o with { SecurityProvider = members.Provider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)) });
        long delivered = 0;
        foreach (StaticRing.Node node in ring.Nodes)
        {
            node.Engine.DeliverHandler = (in RoutedMessage _, Key256 _) => delivered++;
        }

        var random = new Random(Seed + 1);
        Key256[] targets = [.. Enumerable.Range(0, 64).Select(_ => Key256.Random(random))];
        byte[] payload = new byte[100];
        ring.RouteBatch(targets, payload, 2000); // warm-up: every pair on the routes gets its session, the hold buffers are made
        long sealedBefore = ring.Nodes.Sum(n => n.Engine.SessionCounters.Sealed);
        long handshakes = ring.Nodes.Sum(n => n.Engine.SessionCounters.HandshakesStarted);
        long deliveredBefore = delivered;
        long before = GC.GetAllocatedBytesForCurrentThread();
        ring.RouteBatch(targets, payload, 2000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(2000, delivered - deliveredBefore);
        Assert.Equal(handshakes, ring.Nodes.Sum(n => n.Engine.SessionCounters.HandshakesStarted));
        Assert.True(ring.Nodes.Sum(n => n.Engine.SessionCounters.Sealed) - sealedBefore >= 4000, "every route and ack was sealed");
        Assert.Equal(0, allocated);
    }

    private static bool HasSession(JoinedRing.Node holder, JoinedRing.Node peer) =>
        holder.Engine.SessionCounters.Active > 0 && holder.Engine.HasSessionWith(peer.Transport.EndPoint);

    private static JoinedRing.Node Other(JoinedRing ring, JoinedRing.Node node)
    {
        JoinedRing.Node other;
        do
        {
            other = ring.Nodes[ring.Random.Next(ring.Nodes.Count)];
        }
        while (other == node);

        return other;
    }

    private static void AssertLeafSetsAreTrue(JoinedRing ring, int seed)
    {
        int wrong = ring.CountWrongLeafSets(out string first);
        Assert.True(wrong == 0, $"seed {seed}: {wrong} of {ring.LiveNodes.Count} leaf sets differ from the true neighbours; first: {first}");
    }

    private static bool RoutingTableHolds(Overlay.Routing.RoutingTable table, Key256 key)
    {
        for (int row = 0; row < Key256.Size * 2; row++)
        {
            for (int column = 0; column < Overlay.Routing.RoutingTable.Columns; column++)
            {
                foreach (Overlay.Routing.RoutingEntry entry in table.Cell(row, column))
                {
                    if (entry.Node.Key == key)
                    {
                        return true;
                    }
                }
            }
        }

        return false;
    }

    private static bool ContainsAnyKey(JoinedRing ring, byte[] datagram)
    {
        Span<byte> key = stackalloc byte[Key256.Size];
        foreach (JoinedRing.Node node in ring.Nodes)
        {
            node.Key.WriteBigEndian(key);
            if (datagram.AsSpan().IndexOf(key) >= 0 || datagram.AsSpan().IndexOf(node.AppData) >= 0)
            {
                return true;
            }
        }

        return false;
    }

    private sealed class NullReceiver : Transport.IDatagramReceiver
    {
        public void OnDatagram(ReadOnlyMemory<byte> datagram, System.Net.SocketAddress source)
        {
        }

        public void OnWake()
        {
        }
    }

    /// <summary>A network's root and its members' identities, made from the seed so a run replays.</summary>
    private sealed class Members : IDisposable
    {
        private readonly List<DrtIdentity> _identities = [];
        private readonly Random _random;
        private readonly DrtSecurityMode _mode;

        public Members(int seed, DrtSecurityMode mode)
        {
            _random = new Random(seed * 31);
            _mode = mode;
            Root = NewIdentity();
        }

        public DrtIdentity Root { get; }

        public DrtIdentity NewIdentity()
        {
            byte[] seed = new byte[DrtIdentity.PrivateKeyLength];
            _random.NextBytes(seed);
            DrtIdentity identity = DrtIdentity.FromPrivateKey(seed);
            _identities.Add(identity);
            return identity;
        }

        /// <summary>A member valid from a day before <paramref name="now"/> to a day after.</summary>
        public ISecurityProvider Provider(DateTimeOffset now) => Provider(Root, now.AddDays(-1), now.AddDays(1));

        /// <summary>A fresh identity with a credential from <paramref name="root"/> for [notBefore, notAfter).</summary>
        public ISecurityProvider Provider(DrtIdentity root, DateTimeOffset notBefore, DateTimeOffset notAfter)
        {
            DrtIdentity identity = NewIdentity();
            DrtCredential credential = DrtCredential.Issue(root, identity.PublicKey.Span, notBefore, notAfter, "member", s_networkId);
            return new DerivedKeySecurityProvider(_mode, identity, s_networkId, root.PublicKey, credential);
        }

        /// <summary>A ring whose every node is a member (credential until <paramref name="notAfter"/>, default a day).</summary>
        public JoinedRing Ring(int seed, LinkProfile link, Func<int, DateTimeOffset, DateTimeOffset>? notAfter = null, SessionOptions? sessions = null)
        {
            JoinedRing? ring = null;
            ring = new JoinedRing(seed, link)
            {
                ConfigureNode = (i, options) =>
                {
                    DateTimeOffset now = ring!.Scheduler.GetUtcNow();
                    DateTimeOffset until = notAfter?.Invoke(i, now) ?? now.AddDays(1);
                    return options with
                    {
                        SecurityProvider = Provider(Root, now.AddDays(-1), until),
                        Sessions = sessions ?? options.Sessions,
                    };
                },
            };
            return ring;
        }

        public void Dispose()
        {
            foreach (DrtIdentity identity in _identities)
            {
                identity.Dispose();
            }
        }
    }
}
