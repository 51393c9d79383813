using Drt.Overlay.Engine;
using Drt.Overlay.Routing;
using Drt.Overlay.Security;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;
using Xunit;

namespace Drt.Overlay.Simulation.Tests.Engine;

/// <summary>
/// Security mode Resolve against a rogue endpoint on the simulated network: it claims to be the owner of a key and
/// answers the searcher's inquire with forged, mis-derived, replayed and relayed authorities. The searcher never
/// reports any of them, counts each refusal, and marks the rogue's hop in the search path.
/// </summary>
public sealed class ForgedRecordTests
{
    private const int Seed = 4242;

    [Fact]
    public void TheSearcherReportsOnlyAnswersSignedByTheOwnerForItsOwnNonce()
    {
        using var rig = new Rig(Seed);

        // The genuine answer (the rogue holds the owner's identity here, so it is the owner): accepted, once verified.
        rig.Respond = inquire => rig.Answer(inquire, rig.Record(sequence: 2), rig.Owner, inquire.Nonce.ToArray(), inquire.SearcherPublicKey.ToArray());
        SearchOutcome genuine = rig.Search();
        SearchResultData result = Assert.Single(genuine.Results);
        Assert.True(result.Key == rig.Key && result.AppData.SequenceEqual(Rig.Data), $"seed {Seed}: the genuine answer was not reported");
        byte[] oldNonce = rig.LastNonce;

        // 1. A bad signature: the owner's record with one signature bit flipped, and a proof that is otherwise right.
        rig.Respond = inquire =>
        {
            SignedRecord record = rig.Record(sequence: 3);
            byte[] signature = record.Signature.ToArray();
            signature[5] ^= 0x20;
            return rig.Answer(inquire, record with { Signature = signature }, rig.Owner, inquire.Nonce.ToArray(), inquire.SearcherPublicKey.ToArray());
        };
        rig.AssertRefused(c => c.BadSignature, "a record with a bad signature");

        // 2. A key not derived from the signer: the rogue signs the owner's key with its own identity.
        rig.Respond = inquire => rig.Answer(inquire, rig.Record(sequence: 4, signer: rig.Rogue), rig.Rogue, inquire.Nonce.ToArray(), inquire.SearcherPublicKey.ToArray());
        rig.AssertRefused(c => c.InvalidKey, "a record signed by someone the key is not derived from");

        // 3. An older sequence replayed after a newer one was seen (both genuinely signed by the owner).
        rig.Respond = inquire => rig.Answer(inquire, rig.Record(sequence: 1), rig.Owner, inquire.Nonce.ToArray(), inquire.SearcherPublicKey.ToArray());
        rig.AssertRefused(c => c.Stale, "an older sequence after a newer one");

        // 4. A relayed authority: the owner's answer for the searcher's nonce, obtained by the rogue for itself.
        rig.Respond = inquire => rig.Answer(inquire, rig.Record(sequence: 2), rig.Owner, inquire.Nonce.ToArray(), rig.Rogue.PublicKey.ToArray());
        rig.AssertRefused(c => c.ProofsRejected, "an authority relayed from the rogue's own search");

        // 5. A stale nonce: the owner's proof for an earlier search, replayed.
        rig.Respond = inquire => rig.Answer(inquire, rig.Record(sequence: 2), rig.Owner, oldNonce, inquire.SearcherPublicKey.ToArray());
        rig.AssertRefused(c => c.ProofsRejected, "a proof for an earlier search's nonce");

        // 6. No proof at all, and an unsigned (mode None) record.
        rig.Respond = inquire => new Authority(AuthorityFlags.None, rig.Key, inquire.Nonce, rig.Record(sequence: 2), default);
        rig.AssertRefused(c => c.ProofsRejected, "an authority without a proof");
        rig.Respond = inquire => new Authority(AuthorityFlags.None, rig.Key, inquire.Nonce, rig.Record(sequence: 5) with { PublicKey = default, Signature = default }, default);
        rig.AssertRefused(c => c.Malformed, "an unsigned record");

        // The genuine owner is still believed, and its record was verified once: the cache answered the repeats.
        rig.Respond = inquire => rig.Answer(inquire, rig.Record(sequence: 2), rig.Owner, inquire.Nonce.ToArray(), inquire.SearcherPublicKey.ToArray());
        long verifications = rig.Searcher.RecordCache.Verifications;
        for (int i = 0; i < 5; i++)
        {
            Assert.Single(rig.Search().Results);
        }

        Assert.True(rig.Searcher.RecordCache.Verifications == verifications, $"seed {Seed}: an unchanged record was verified again");
    }

    /// <summary>A Resolve searcher (resolve-only) that knows the key only at the rogue's address.</summary>
    private sealed class Rig : IDisposable
    {
        public static readonly byte[] Data = [7, 7, 7];

        private readonly VirtualTimeScheduler _scheduler = new();
        private readonly SimulatedTransport _rogueTransport;
        private readonly PooledBufferWriter _buffer = new();
        private readonly WireContext _context;
        private readonly uint _networkId;

        public Rig(int seed)
        {
            var network = new SimulatedNetwork(_scheduler, seed, new LinkProfile { Latency = TimeSpan.FromMilliseconds(5) });
            Owner = Identity(seed, 1);
            Rogue = Identity(seed, 2);
            SearcherIdentity = Identity(seed, 3);
            var options = new EngineOptions();
            _networkId = options.NetworkId;
            OwnerProvider = new DerivedKeySecurityProvider(DrtSecurityMode.Resolve, Owner, _networkId);
            RogueProvider = new DerivedKeySecurityProvider(DrtSecurityMode.Resolve, Rogue, _networkId);
            options = options with { SecurityProvider = new DerivedKeySecurityProvider(DrtSecurityMode.Resolve, SearcherIdentity, _networkId) };
            _context = options.WireContext;
            Key = Owner.DeriveKey("x");

            _rogueTransport = network.CreateTransport();
            var receiver = new RecordingReceiver(_scheduler) { OnReceive = OnRogueReceive };
            _rogueTransport.Start(receiver);

            SimulatedTransport transport = network.CreateTransport();
            Searcher = new Overlay.Engine.Engine(options, transport, _scheduler, new Random(seed), new SeededRandomNumberGenerator(seed));
            Searcher.Start();
            Searcher.Admit(Key, _rogueTransport.EndPoint);
        }

        public DrtIdentity Owner { get; }

        public DrtIdentity Rogue { get; }

        public DrtIdentity SearcherIdentity { get; }

        public DerivedKeySecurityProvider OwnerProvider { get; }

        public DerivedKeySecurityProvider RogueProvider { get; }

        public Key256 Key { get; }

        public Overlay.Engine.Engine Searcher { get; }

        public Func<Inquire, Authority> Respond { get; set; } = _ => default;

        public byte[] LastNonce { get; private set; } = [];

        public SearchOutcome Search()
        {
            SearchOutcome? outcome = null;
            Searcher.Post(now => Assert.True(Searcher.StartSearch(SearchRequest.Exact(Key), o => outcome = o, now)));
            Assert.True(_scheduler.RunUntil(() => outcome is not null, TimeSpan.FromMinutes(1)), $"seed {Seed}: the search did not end");
            return outcome!;
        }

        /// <summary>Runs one search and checks that it found nothing, counted the refusal and marked the rogue's hop.</summary>
        public void AssertRefused(Func<RecordCounters, long> counter, string what)
        {
            long before = counter(Searcher.RecordCounters);
            SearchOutcome outcome = Search();
            Assert.True(outcome.Results.Count == 0, $"seed {Seed}: {what} was reported as a result");
            Assert.True(counter(Searcher.RecordCounters) > before, $"seed {Seed}: {what} was not counted");
            LookupHop hop = outcome.Path.Last(h => h.Node.Key == Key);
            Assert.True((hop.Outcome & HopOutcome.Suspect) != 0 && (hop.Outcome & HopOutcome.Rejected) != 0, $"seed {Seed}: {what}: the rogue's hop is marked {hop.Outcome}");
        }

        /// <summary>The owner's record of <see cref="Key"/>, signed by <paramref name="signer"/> (the owner unless told).</summary>
        public SignedRecord Record(ulong sequence, DrtIdentity? signer = null)
        {
            signer ??= Owner;
            ulong expires = (ulong)_scheduler.GetUtcNow().ToUnixTimeSeconds() + 3_600;
            var record = new SignedRecord(Key, signer.PublicKey, "x"u8.ToArray(), new[] { WireEndpoint.FromIPEndPoint(_rogueTransport.EndPoint) }, Data, sequence, expires, RecordFlags.None, default);
            byte[] signature = new byte[64];
            if (signer == Owner)
            {
                RecordSigning.Sign(OwnerProvider, _networkId, record, signature);
            }
            else
            {
                // The rogue's provider would refuse to sign a key it does not own: sign the digest directly.
                Span<byte> digest = stackalloc byte[RecordSigning.DigestLength];
                RecordSigning.ComputeDigest(_networkId, record, digest);
                Span<byte> message = stackalloc byte[RecordSigning.SignedMessageLength];
                RogueProvider.Sign(message[..RecordSigning.WriteSignedMessage(digest, message)], signature);
            }

            return record with { Signature = signature };
        }

        /// <summary>An authority carrying <paramref name="record"/> and a proof by <paramref name="prover"/> over the given nonce and searcher key.</summary>
        public Authority Answer(in Inquire inquire, SignedRecord record, DrtIdentity prover, byte[] nonce, byte[] searcherPublicKey)
        {
            byte[] digest = new byte[RecordSigning.DigestLength];
            RecordSigning.ComputeDigest(_networkId, record, digest);
            byte[] proof = new byte[64];
            NonceProof.Sign(prover == Owner ? OwnerProvider : RogueProvider, _networkId, record.Key, record.Sequence, digest, nonce, searcherPublicKey, proof);
            return new Authority(AuthorityFlags.None, Key, inquire.Nonce.ToArray(), record, proof);
        }

        public void Dispose()
        {
            _buffer.Dispose();
            Owner.Dispose();
            Rogue.Dispose();
            SearcherIdentity.Dispose();
        }

        private static DrtIdentity Identity(int seed, int index)
        {
            byte[] privateKey = new byte[DrtIdentity.PrivateKeyLength];
            new Random((seed * 31) + index).NextBytes(privateKey);
            return DrtIdentity.FromPrivateKey(privateKey);
        }

        private void OnRogueReceive(ReadOnlyMemory<byte> datagram, System.Net.SocketAddress source)
        {
            switch ((MessageType)datagram.Span[WireHeader.TypeOffset])
            {
                case MessageType.Lookup when WireCodec.TryDecode(datagram, _context, out WireHeader header, out Lookup _) == DecodeStatus.Ok:
                    // "My leaf set covers the target, and I am it."
                    Send(new LookupReply(LookupReplyFlags.Covering, new WireList<RouteEntry>(new[] { new RouteEntry(Key, WireEndpoint.FromIPEndPoint(_rogueTransport.EndPoint)) })), header.MessageId, source);
                    break;
                case MessageType.Inquire when WireCodec.TryDecode(datagram, _context, out WireHeader header, out Inquire inquire) == DecodeStatus.Ok:
                    LastNonce = inquire.Nonce.ToArray();
                    Send(Respond(inquire), header.MessageId, source);
                    break;
                default:
                    break;
            }
        }

        private void Send<T>(in T message, ulong messageId, System.Net.SocketAddress destination)
            where T : struct, IWireMessage<T>
        {
            ReadOnlySpan<byte> datagram = WireCodec.Encode(WireHeader.Create(_context, T.Type, messageId), message, _buffer);
            Assert.True(_rogueTransport.TrySend(datagram, destination));
        }
    }
}
