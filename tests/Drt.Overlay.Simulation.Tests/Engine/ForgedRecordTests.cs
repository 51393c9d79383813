using Drt.Overlay.Engine;
using Drt.Overlay.Routing;
using Drt.Overlay.Security;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;
using Xunit;

namespace Drt.Overlay.Simulation.Tests.Engine;

/// <summary>
/// Every secure mode against a rogue endpoint on the simulated network: it claims to be the owner of a key and answers
/// the searcher's inquire with forged, mis-derived, replayed and relayed authorities, proved by signature or by MAC. In
/// Membership and Confidential the rogue is a member gone bad (a valid credential, sessions and all), so what stops it
/// is the records and proofs, not the sessions. The searcher never reports a forgery, counts each refusal, and marks
/// the rogue's hop in the search path.
/// </summary>
public sealed class ForgedRecordTests
{
    private const int Seed = 4242;

    [Theory]
    [InlineData(DrtSecurityMode.Resolve)]
    [InlineData(DrtSecurityMode.Membership)]
    [InlineData(DrtSecurityMode.Confidential)]
    public void TheSearcherReportsOnlyAnswersTheOwnerProvedForItsOwnNonce(DrtSecurityMode mode)
    {
        using var rig = new Rig(Seed, mode);

        // The genuine answers (the rogue holds the owner's identity and exchange key here, so it is the owner): a
        // signed proof and a MAC proof are both accepted, the record verified once.
        rig.Respond = inquire => rig.Signed(inquire, rig.Record(sequence: 2), rig.Owner, inquire.Nonce, inquire.SearcherExchangeKey);
        rig.AssertFound("a signed proof");
        rig.Respond = inquire => rig.Maced(inquire, rig.Record(sequence: 2), rig.OwnerExchange, inquire.Nonce, inquire.SearcherExchangeKey);
        rig.AssertFound("a MAC proof");
        byte[] oldNonce = rig.LastNonce;
        byte[] searcherKey = rig.LastSearcherKey;

        // 1. A bad signature: the owner's record with one signature bit flipped, and a proof that is otherwise right.
        rig.Respond = inquire =>
        {
            SignedRecord record = rig.Record(sequence: 3);
            byte[] signature = record.Signature.ToArray();
            signature[5] ^= 0x20;
            return rig.Maced(inquire, record with { Signature = signature }, rig.OwnerExchange, inquire.Nonce, inquire.SearcherExchangeKey);
        };
        rig.AssertRefused(c => c.BadSignature, "a record with a bad signature");

        // 2. A key not derived from the signer: the rogue signs the owner's key with its own identity.
        rig.Respond = inquire => rig.Signed(inquire, rig.Record(sequence: 4, signer: rig.Rogue), rig.Rogue, inquire.Nonce, inquire.SearcherExchangeKey);
        rig.AssertRefused(c => c.InvalidKey, "a record signed by someone the key is not derived from");

        // 3. An older sequence replayed after a newer one was seen (both genuinely signed by the owner).
        rig.Respond = inquire => rig.Maced(inquire, rig.Record(sequence: 1), rig.OwnerExchange, inquire.Nonce, inquire.SearcherExchangeKey);
        rig.AssertRefused(c => c.Stale, "an older sequence after a newer one");

        // 4. A record whose exchange key the rogue swapped for its own, so that its own MAC would check: the owner's
        //    signature does not cover that key.
        rig.Respond = inquire => rig.Maced(inquire, rig.Record(sequence: 2) with { ExchangeKey = rig.RogueExchange.PublicKey }, rig.RogueExchange, inquire.Nonce, inquire.SearcherExchangeKey);
        rig.AssertRefused(c => c.BadSignature, "a record with the rogue's exchange key in it");

        // 5. Relayed authorities: the owner's answer for the searcher's nonce, obtained by the rogue for itself (bound
        //    to the rogue's exchange key, signed or MACed under the owner's pair key with the rogue).
        rig.Respond = inquire => rig.Signed(inquire, rig.Record(sequence: 2), rig.Owner, inquire.Nonce, rig.RogueExchange.PublicKey);
        rig.AssertRefused(c => c.ProofsRejected, "a signed authority relayed from the rogue's own search");
        rig.Respond = inquire => rig.Maced(inquire, rig.Record(sequence: 2), rig.OwnerExchange, inquire.Nonce, rig.RogueExchange.PublicKey);
        rig.AssertRefused(c => c.ProofsRejected, "a MAC authority relayed from the rogue's own search");

        // 6. A MAC the rogue made itself, under its pair key with the searcher, for the owner's genuine record.
        rig.Respond = inquire => rig.Maced(inquire, rig.Record(sequence: 2), rig.RogueExchange, inquire.Nonce, inquire.SearcherExchangeKey);
        rig.AssertRefused(c => c.ProofsRejected, "a MAC under the rogue's own pair key");

        // 7. Stale nonces: the owner's proofs for an earlier search, replayed.
        Assert.True(searcherKey.AsSpan().SequenceEqual(rig.LastSearcherKey), $"seed {Seed}: the searcher's exchange key changed");
        rig.Respond = inquire => rig.Signed(inquire, rig.Record(sequence: 2), rig.Owner, oldNonce, inquire.SearcherExchangeKey);
        rig.AssertRefused(c => c.ProofsRejected, "a signed proof for an earlier search's nonce");
        rig.Respond = inquire => rig.Maced(inquire, rig.Record(sequence: 2), rig.OwnerExchange, oldNonce, inquire.SearcherExchangeKey);
        rig.AssertRefused(c => c.ProofsRejected, "a MAC proof for an earlier search's nonce");

        // 8. A proof of the wrong kind for its flag, no proof at all, and an unsigned (mode None) record.
        rig.Respond = inquire =>
        {
            Authority signed = rig.Signed(inquire, rig.Record(sequence: 2), rig.Owner, inquire.Nonce, inquire.SearcherExchangeKey);
            return signed with { Flags = AuthorityFlags.MacProof, Proof = signed.Proof[..WireLimits.MacProofLength] };
        };
        rig.AssertRefused(c => c.ProofsRejected, "a signature cut to a MAC's length");
        rig.Respond = inquire => new Authority(AuthorityFlags.None, rig.Key, inquire.Nonce, rig.Record(sequence: 2), default);
        rig.AssertRefused(c => c.ProofsRejected, "an authority without a proof");
        rig.Respond = inquire => new Authority(AuthorityFlags.None, rig.Key, inquire.Nonce, rig.Record(sequence: 5) with { PublicKey = default, ExchangeKey = default, Signature = default }, default);
        rig.AssertRefused(c => c.Malformed, "an unsigned record");

        // The genuine owner is still believed, and its record was verified once: the cache answered the repeats.
        rig.Respond = inquire => rig.Maced(inquire, rig.Record(sequence: 2), rig.OwnerExchange, inquire.Nonce, inquire.SearcherExchangeKey);
        long verifications = rig.Searcher.RecordCache.Verifications;
        for (int i = 0; i < 5; i++)
        {
            rig.AssertFound("the genuine answer, again");
        }

        Assert.True(rig.Searcher.RecordCache.Verifications == verifications, $"seed {Seed} {mode}: an unchanged record was verified again");
        if (mode != DrtSecurityMode.Resolve)
        {
            Assert.True(rig.Searcher.SessionCounters.Opened > 0 && rig.Searcher.SessionCounters.AuthenticationFailed == 0, $"seed {Seed} {mode}: the rogue member's answers did not come through its session");
        }
    }

    /// <summary>A searcher (resolve-only) that knows the key only at the rogue's address, in one security mode.</summary>
    private sealed class Rig : IDisposable
    {
        public static readonly byte[] Data = [7, 7, 7];

        private readonly VirtualTimeScheduler _scheduler = new();
        private readonly SimulatedTransport _rogueTransport;
        private readonly PooledBufferWriter _buffer = new();
        private readonly WireContext _context;
        private readonly uint _networkId;
        private readonly DrtSecurityMode _mode;
        private readonly DrtIdentity _root;
        private readonly DrtIdentity _searcherIdentity;
        private readonly byte[] _sealBuffer = new byte[2048];
        private ISecureSession? _session;

        public Rig(int seed, DrtSecurityMode mode)
        {
            _mode = mode;
            var network = new SimulatedNetwork(_scheduler, seed, new LinkProfile { Latency = TimeSpan.FromMilliseconds(5) });
            Owner = Identity(seed, 1);
            Rogue = Identity(seed, 2);
            _searcherIdentity = Identity(seed, 3);
            _root = Identity(seed, 4);
            var options = new EngineOptions();
            _networkId = options.NetworkId;
            OwnerProvider = Provider(Owner);
            RogueProvider = Provider(Rogue);
            OwnerExchange = new PairKeys(_networkId, 16, Bytes(seed, 5));
            RogueExchange = new PairKeys(_networkId, 16, Bytes(seed, 6));
            options = options with { SecurityProvider = Provider(_searcherIdentity) };
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

        public ISecurityProvider OwnerProvider { get; }

        /// <summary>The rogue's own provider: in membership modes a member's, with a valid credential.</summary>
        public ISecurityProvider RogueProvider { get; }

        /// <summary>The owner's exchange key (its records carry it) and its pair keys.</summary>
        public PairKeys OwnerExchange { get; }

        /// <summary>The rogue's own exchange key and pair keys.</summary>
        public PairKeys RogueExchange { get; }

        public Key256 Key { get; }

        public Overlay.Engine.Engine Searcher { get; }

        public Func<Inquire, Authority> Respond { get; set; } = _ => default;

        public byte[] LastNonce { get; private set; } = [];

        public byte[] LastSearcherKey { get; private set; } = [];

        public SearchOutcome Search()
        {
            SearchOutcome? outcome = null;
            Searcher.Post(now => Assert.True(Searcher.StartSearch(SearchRequest.Exact(Key), o => outcome = o, now)));
            Assert.True(_scheduler.RunUntil(() => outcome is not null, TimeSpan.FromMinutes(1)), $"seed {Seed} {_mode}: the search did not end");
            return outcome!;
        }

        /// <summary>Runs one search and checks that it reported the owner's key and data.</summary>
        public void AssertFound(string what)
        {
            SearchOutcome outcome = Search();
            Assert.True(outcome.Results.Count == 1 && outcome.Results[0].Key == Key && outcome.Results[0].AppData.SequenceEqual(Data), $"seed {Seed} {_mode}: {what} was not reported");
        }

        /// <summary>Runs one search and checks that it found nothing, counted the refusal and marked the rogue's hop.</summary>
        public void AssertRefused(Func<RecordCounters, long> counter, string what)
        {
            long before = counter(Searcher.RecordCounters);
            SearchOutcome outcome = Search();
            Assert.True(outcome.Results.Count == 0, $"seed {Seed} {_mode}: {what} was reported as a result");
            Assert.True(counter(Searcher.RecordCounters) > before, $"seed {Seed} {_mode}: {what} was not counted");
            LookupHop hop = outcome.Path.Last(h => h.Node.Key == Key);
            Assert.True((hop.Outcome & HopOutcome.Suspect) != 0 && (hop.Outcome & HopOutcome.Rejected) != 0, $"seed {Seed} {_mode}: {what}: the rogue's hop is marked {hop.Outcome}");
        }

        /// <summary>The owner's record of <see cref="Key"/>, signed by <paramref name="signer"/> (the owner unless told).</summary>
        public SignedRecord Record(ulong sequence, DrtIdentity? signer = null)
        {
            signer ??= Owner;
            ulong expires = (ulong)_scheduler.GetUtcNow().ToUnixTimeSeconds() + 3_600;
            var record = new SignedRecord(
                Key, signer.PublicKey, OwnerExchange.PublicKey, "x"u8.ToArray(), new[] { WireEndpoint.FromIPEndPoint(_rogueTransport.EndPoint) }, Data, sequence, expires, RecordFlags.None, default);
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

        /// <summary>An authority carrying <paramref name="record"/> and a signed proof by <paramref name="prover"/> over the given nonce and searcher key.</summary>
        public Authority Signed(in Inquire inquire, SignedRecord record, DrtIdentity prover, ReadOnlyMemory<byte> nonce, ReadOnlyMemory<byte> searcherKey)
        {
            byte[] proof = new byte[64];
            NonceProof.Sign(prover == Owner ? OwnerProvider : RogueProvider, _networkId, record.Key, record.Sequence, Digest(record), nonce.Span, searcherKey.Span, proof);
            return new Authority(AuthorityFlags.None, Key, inquire.Nonce.ToArray(), record, proof);
        }

        /// <summary>
        /// An authority carrying <paramref name="record"/> and a MAC proof under the pair key of <paramref name="prover"/>
        /// with <paramref name="searcherKey"/>, over the given nonce and that key.
        /// </summary>
        public Authority Maced(in Inquire inquire, SignedRecord record, PairKeys prover, ReadOnlyMemory<byte> nonce, ReadOnlyMemory<byte> searcherKey)
        {
            Assert.True(prover.TryGetOrAgree(searcherKey.Span, out NSec.Cryptography.Key pairKey));
            byte[] proof = new byte[WireLimits.MacProofLength];
            NonceProof.Mac(pairKey, _networkId, record.Key, record.Sequence, Digest(record), nonce.Span, searcherKey.Span, proof);
            return new Authority(AuthorityFlags.MacProof, Key, inquire.Nonce.ToArray(), record, proof);
        }

        public void Dispose()
        {
            _session?.Dispose();
            _buffer.Dispose();
            OwnerExchange.Dispose();
            RogueExchange.Dispose();
            Owner.Dispose();
            Rogue.Dispose();
            _searcherIdentity.Dispose();
            _root.Dispose();
        }

        private static DrtIdentity Identity(int seed, int index) => DrtIdentity.FromPrivateKey(Bytes(seed, index));

        private static byte[] Bytes(int seed, int index)
        {
            byte[] bytes = new byte[32];
            new Random((seed * 31) + index).NextBytes(bytes);
            return bytes;
        }

        private byte[] Digest(in SignedRecord record)
        {
            byte[] digest = new byte[RecordSigning.DigestLength];
            RecordSigning.ComputeDigest(_networkId, record, digest);
            return digest;
        }

        /// <summary>A provider of <paramref name="identity"/> in this rig's mode (a member of the rig's root in membership modes).</summary>
        private ISecurityProvider Provider(DrtIdentity identity)
        {
            if (_mode == DrtSecurityMode.Resolve)
            {
                return new DerivedKeySecurityProvider(_mode, identity, _networkId);
            }

            DateTimeOffset now = _scheduler.GetUtcNow();
            DrtCredential credential = DrtCredential.Issue(_root, identity.PublicKey.Span, now.AddDays(-1), now.AddDays(1), "member", _networkId);
            return new DerivedKeySecurityProvider(_mode, identity, _networkId, _root.PublicKey, credential);
        }

        private void OnRogueReceive(ReadOnlyMemory<byte> datagram, System.Net.SocketAddress source)
        {
            var type = (MessageType)datagram.Span[WireHeader.TypeOffset];
            if (type == MessageType.Hello)
            {
                Accept(datagram, source);
                return;
            }

            if (_mode != DrtSecurityMode.Resolve)
            {
                // A member: everything after the hello arrives sealed under the session with the searcher.
                byte[] open = datagram.ToArray();
                Assert.True(_session is not null, $"seed {Seed} {_mode}: a sealed datagram came before the hello");
                Assert.True(_session.TryOpen(open, WireHeader.Size, out int bodyLength) == SecureSessionStatus.Ok, $"seed {Seed} {_mode}: the rogue could not open the searcher's datagram");
                datagram = open.AsMemory(0, WireHeader.Size + bodyLength);
            }

            switch (type)
            {
                case MessageType.Lookup when WireCodec.TryDecode(datagram, _context, out WireHeader header, out Lookup _) == DecodeStatus.Ok:
                    // "My leaf set covers the target, and I am it."
                    Send(new LookupReply(LookupReplyFlags.Covering, new WireList<RouteEntry>(new[] { new RouteEntry(Key, WireEndpoint.FromIPEndPoint(_rogueTransport.EndPoint)) })), header.MessageId, source);
                    break;
                case MessageType.Inquire when WireCodec.TryDecode(datagram, _context, out WireHeader header, out Inquire inquire) == DecodeStatus.Ok:
                    LastNonce = inquire.Nonce.ToArray();
                    LastSearcherKey = inquire.SearcherExchangeKey.ToArray();
                    Send(Respond(inquire), header.MessageId, source);
                    break;
                default:
                    break;
            }
        }

        /// <summary>The rogue member answers the searcher's hello as the engine would (Engine.Sessions.cs): its credential, identity, ephemeral key and proof.</summary>
        private void Accept(ReadOnlyMemory<byte> datagram, System.Net.SocketAddress source)
        {
            Assert.Equal(DecodeStatus.Ok, WireCodec.TryDecode(datagram, _context, out WireHeader header, out Hello hello));
            using ISessionHandshake handshake = RogueProvider.BeginSession()!;
            byte[] ephemeral = handshake.LocalEphemeralKey.ToArray();
            Span<byte> message = stackalloc byte[128];
            int length = SessionHandshake.WriteProofMessage(_networkId, isInitiator: false, ephemeral, hello.EphemeralKey.Span, message);
            byte[] proof = new byte[64];
            RogueProvider.Sign(message[..length], proof);
            _session?.Dispose();
            _session = handshake.Complete(hello.EphemeralKey.Span, hello.PublicKey.Span, isInitiator: false);
            ReadOnlySpan<byte> reply = WireCodec.Encode(WireHeader.Create(_context, MessageType.HelloReply, header.MessageId), new HelloReply(RogueProvider.LocalCredential, RogueProvider.PublicKey, ephemeral, proof), _buffer);
            Assert.True(_rogueTransport.TrySend(reply, source));
        }

        private void Send<T>(in T message, ulong messageId, System.Net.SocketAddress destination)
            where T : struct, IWireMessage<T>
        {
            ReadOnlySpan<byte> datagram = WireCodec.Encode(WireHeader.Create(_context, T.Type, messageId), message, _buffer);
            if (_session is not null)
            {
                datagram.CopyTo(_sealBuffer);
                _sealBuffer[WireHeader.FlagsOffset] |= (byte)HeaderFlags.Authenticated;
                Assert.True(_session.TrySeal(_sealBuffer, WireHeader.Size, datagram.Length - WireHeader.Size, out int sealedLength));
                datagram = _sealBuffer.AsSpan(0, sealedLength);
            }

            Assert.True(_rogueTransport.TrySend(datagram, destination));
        }
    }
}
