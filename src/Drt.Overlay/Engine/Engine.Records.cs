using System.Text;
using Drt.Overlay.Security;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Engine;

/// <summary>What the engine refused of records and proofs (secure modes), for metrics and tests.</summary>
/// <remarks>Written on the engine thread only; readers elsewhere see slightly stale values.</remarks>
internal sealed class RecordCounters
{
    /// <summary>Records refused because their signature did not verify.</summary>
    public long BadSignature { get; set; }

    /// <summary>Records refused because their key is not derived from the record's public key and classifier.</summary>
    public long InvalidKey { get; set; }

    /// <summary>Records refused for lacking a public key or signature.</summary>
    public long Malformed { get; set; }

    /// <summary>Records refused because their validity had passed.</summary>
    public long Expired { get; set; }

    /// <summary>Records ignored because a newer sequence of the same key was verified before (replays).</summary>
    public long Stale { get; set; }

    /// <summary>Authority answers whose nonce proof failed: replayed, relayed, or for another record version.</summary>
    public long ProofsRejected { get; set; }

    /// <summary>Answers this owner proved with a MAC under a pair key (no Ed25519).</summary>
    public long MacProofs { get; set; }

    /// <summary>Answers this owner proved with an Ed25519 signature (no pair key held, and no agreement budget left).</summary>
    public long SignedProofs { get; set; }

    /// <summary>Inquiries answered Busy: no pair key, and neither agreement nor signature budget left.</summary>
    public long ProofsBusy { get; set; }

    /// <summary>Revocations refused: not signed by the key's owner, stale, or absent where one was required.</summary>
    public long RevocationsRejected { get; set; }

    /// <summary>Revocations honoured.</summary>
    public long RevocationsAccepted { get; set; }

    /// <summary>Local records signed (registration, update, renewal, revocation).</summary>
    public long Signed { get; set; }

    /// <summary>Local records re-signed before they expired.</summary>
    public long Renewed { get; set; }

    /// <summary>Records refused for any reason (the sum of the reasons).</summary>
    public long Rejected => BadSignature + InvalidKey + Malformed + Expired + Stale;

    /// <summary>Counts one refusal by its status.</summary>
    public void Count(RecordStatus status)
    {
        switch (status)
        {
            case RecordStatus.BadSignature:
                BadSignature++;
                break;
            case RecordStatus.InvalidKey:
                InvalidKey++;
                break;
            case RecordStatus.Malformed:
                Malformed++;
                break;
            case RecordStatus.Expired:
                Expired++;
                break;
            case RecordStatus.Stale:
                Stale++;
                break;
            default:
                break;
        }
    }
}

/// <summary>
/// Security mode Resolve (and up) in the engine (docs/security.md): local registrations as signed records, renewed
/// before they expire; received records verified once per version through one bounded cache; nonce proofs on the
/// owner's answers (a MAC under the pair key with the searcher when one is held or may be agreed, else a signature)
/// and their check at the searcher; signed revocations.
/// </summary>
/// <remarks>
/// In mode None nothing here signs or verifies: answers carry unsigned records as before, and a revocation counts
/// from the key's own address only. The header's security-mode byte keeps nodes of different modes apart.
/// </remarks>
internal sealed partial class Engine
{
    private ISecurityProvider _security = NullSecurityProvider.Instance;
    private RecordVerificationCache _recordCache = null!;
    private bool _secure;
    private long _unixEpochMicros;
    private readonly byte[] _proof = new byte[WireLimits.SignatureLength];
    private PairKeys? _pairKeys;
    private TokenBucket _agreementBucket;
    private TokenBucket _proofSignatureBucket;

    /// <summary>Refused records and proofs, renewals (secure modes).</summary>
    public RecordCounters RecordCounters { get; } = new();

    /// <summary>The provider this engine signs and verifies with.</summary>
    public ISecurityProvider Security => _security;

    /// <summary>The engine's one record verification cache (its counters say how often Ed25519 ran).</summary>
    public RecordVerificationCache RecordCache => _recordCache;

    /// <summary>The exchange key and pair keys behind MAC nonce proofs (secure modes); null in mode None.</summary>
    public PairKeys? PairKeys => _pairKeys;

    /// <summary>
    /// Called on the engine thread when a local key's record expired and its provider could not vouch for a new one
    /// (DRT's registration state Unresolvable): others refuse the key from now on.
    /// </summary>
    public Action<Key256>? RegistrationUnresolvable { get; set; }

    private void InitializeRecords(EngineOptions options, TimeProvider time)
    {
        _security = options.SecurityProvider;
        _secure = _security.Mode != DrtSecurityMode.None;
        _recordCache = new RecordVerificationCache(_security, options.NetworkId, options.RecordCacheCapacity);
        if (_secure)
        {
            // The exchange key's private half comes from the nonce source: unpredictable in a real node, seeded (and so
            // replayable) in the simulator. It lives as long as the engine; every record it signs carries its public half.
            Span<byte> exchange = stackalloc byte[32];
            FillNonce(exchange);
            _pairKeys = new PairKeys(options.NetworkId, options.PairKeyCapacity, exchange);
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(exchange);
        }

        _agreementBucket = TokenBucket.Full(options.PairAgreementRate, options.PairAgreementBurst, 0);
        _proofSignatureBucket = TokenBucket.Full(options.ProofSignatureRate, options.ProofSignatureBurst, 0);

        // now counts microseconds from the engine's construction; records speak Unix seconds.
        _unixEpochMicros = time.GetUtcNow().ToUnixTimeMilliseconds() * 1000;
    }

    private long UnixMicros(long now) => _unixEpochMicros + now;

    private long UnixSeconds(long now) => UnixMicros(now) / 1_000_000;

    /// <summary>
    /// Refuses, in a secure mode, a key this instance's identity may not publish under <paramref name="classifier"/>;
    /// the message says how a valid key is made.
    /// </summary>
    private void CheckKeyAllowed(Key256 key, byte[] classifier)
    {
        if (!_secure || _security.IsKeyAllowed(key, _security.PublicKey.Span, classifier))
        {
            return;
        }

        throw new DrtException(
            DrtError.InvalidKey,
            $"Key {key} is not derived from this instance's identity under classifier \"{Encoding.UTF8.GetString(classifier)}\" (security mode {_security.Mode}): a key is SHA-256(\"drt.overlay/key/v1\" ‖ public key ‖ classifier). Register by classifier (DrtInstance.RegisterDerivedKeyAsync(classifier, appData)) or derive the key with DrtInstance.DeriveKey(classifier).");
    }

    /// <summary>
    /// In a secure mode, the first sequence of a new registration: the Unix time in microseconds, so that a key
    /// registered again after an unregistration (whose signed revocation peers remember) or a restart starts above
    /// every sequence it signed before.
    /// </summary>
    private ulong FirstSequence(long now) => _secure ? (ulong)Math.Max(UnixMicros(now), 1) : 1;

    /// <summary>Until when (Unix seconds) the provider can vouch for this identity's records; long.MaxValue: no limit.</summary>
    private long VouchLimit() => _security is DerivedKeySecurityProvider { CredentialNotAfter: { } notAfter } ? notAfter.ToUnixTimeSeconds() : long.MaxValue;

    private bool CanVouch(LocalKey local, long now)
        => UnixSeconds(now) < VouchLimit() && _security.IsKeyAllowed(local.Key, _security.PublicKey.Span, local.Classifier);

    /// <summary>
    /// Signs the key's current record (secure modes): its sequence, data and this instance's endpoints, valid for
    /// <see cref="EngineOptions.RecordLifetime"/> (at most until the provider's limit), renewed when a quarter is left.
    /// The signature and digest are kept, so an answer costs one nonce proof (a MAC, once the pair has met) and no record
    /// work.
    /// </summary>
    private void SignLocal(LocalKey local, long now)
    {
        if (!_secure)
        {
            return;
        }

        long unixMicros = UnixMicros(now);
        long unix = unixMicros / 1_000_000;
        long expires = Math.Min(unix + (long)_options.RecordLifetime.TotalSeconds, VouchLimit());
        var record = new SignedRecord(
            local.Key, _security.PublicKey, _pairKeys!.PublicKey, local.Classifier, new WireList<WireEndpoint>(_advertisedEndpoints), local.AppData, local.Sequence, (ulong)expires, RecordFlags.None, default);
        byte[] signature = new byte[_security.SignatureLength];
        RecordSigning.Sign(_security, _options.NetworkId, record, signature);
        RecordSigning.ComputeDigest(_options.NetworkId, record, local.Digest);
        local.Record = record with { Signature = signature };
        local.Unresolvable = false;
        RecordCounters.Signed++;

        long validMicros = (expires * 1_000_000) - unixMicros;
        local.RenewAt = now + Math.Max(validMicros - (validMicros / 4), 1);
    }

    /// <summary>The owner's signed revocation of <paramref name="local"/>: a higher sequence with the Revoked flag; null in mode None.</summary>
    private SignedRecord? Revocation(LocalKey local, long now)
    {
        if (!_secure || !_security.IsKeyAllowed(local.Key, _security.PublicKey.Span, local.Classifier))
        {
            return null;
        }

        long unix = UnixSeconds(now);
        var record = new SignedRecord(
            local.Key, _security.PublicKey, _pairKeys!.PublicKey, local.Classifier, new WireList<WireEndpoint>(_advertisedEndpoints), ReadOnlyMemory<byte>.Empty, local.Sequence + 1,
            (ulong)(unix + (long)_options.RecordLifetime.TotalSeconds), RecordFlags.Revoked, default);
        byte[] signature = new byte[_security.SignatureLength];
        RecordSigning.Sign(_security, _options.NetworkId, record, signature);
        RecordCounters.Signed++;
        return record with { Signature = signature };
    }

    /// <summary>
    /// Re-signs every local record whose renewal is due; a record the provider can no longer vouch for runs out, and
    /// at its expiry the application hears that the key is unresolvable. Returns the next renewal or expiry.
    /// </summary>
    private long RenewRecords(long now)
    {
        if (!_secure)
        {
            return long.MaxValue;
        }

        long next = long.MaxValue;
        foreach (LocalKey local in _keys)
        {
            if (local.Record is not { } record)
            {
                continue;
            }

            if (now >= local.RenewAt)
            {
                if (CanVouch(local, now))
                {
                    local.Sequence++;
                    SignLocal(local, now);
                    RecordCounters.Renewed++;
                }
                else
                {
                    long left = ((long)record.ExpiresUnixSeconds * 1_000_000) - UnixMicros(now);
                    if (left > 0)
                    {
                        local.RenewAt = now + left; // wake at its expiry
                    }
                    else
                    {
                        if (!local.Unresolvable)
                        {
                            local.Unresolvable = true;
                            RegistrationUnresolvable?.Invoke(local.Key);
                        }

                        local.RenewAt = now + _options.MaintenancePeriodMicros; // the provider may vouch again later
                    }
                }
            }

            next = Math.Min(next, local.RenewAt);
        }

        return next;
    }

    /// <summary>
    /// The owner's nonce proof for an inquire about <paramref name="local"/>, into a reused buffer, cheapest first: a MAC
    /// under the pair key with the searcher's exchange key when one is held, or when the agreement budget allows making
    /// one (X25519, about two signatures' worth, then every later answer to that searcher is a MAC); else an Ed25519
    /// signature while the signature budget lasts. False when both budgets are spent: the caller answers Busy, so a
    /// flood of inquiries from fresh exchange keys costs this node at most the two buckets' worth of cryptography.
    /// </summary>
    private bool TryProveAnswer(LocalKey local, in SignedRecord record, in Inquire inquire, long now, out ReadOnlyMemory<byte> proof, out AuthorityFlags flags)
    {
        PairKeys pairKeys = _pairKeys!;
        ReadOnlySpan<byte> searcher = inquire.SearcherExchangeKey.Span;
        if (pairKeys.TryGet(searcher, out NSec.Cryptography.Key pairKey)
            || (searcher.Length == WireLimits.ExchangeKeyLength && _agreementBucket.TryTake(now) && pairKeys.TryAgree(searcher, out pairKey)))
        {
            NonceProof.Mac(pairKey, _options.NetworkId, local.Key, record.Sequence, local.Digest, inquire.Nonce.Span, searcher, _proof);
            RecordCounters.MacProofs++;
            proof = _proof.AsMemory(0, WireLimits.MacProofLength);
            flags = AuthorityFlags.MacProof;
            return true;
        }

        if (!_proofSignatureBucket.TryTake(now))
        {
            RecordCounters.ProofsBusy++;
            proof = default;
            flags = AuthorityFlags.Busy;
            return false;
        }

        NonceProof.Sign(_security, _options.NetworkId, local.Key, record.Sequence, local.Digest, inquire.Nonce.Span, searcher, _proof);
        RecordCounters.SignedProofs++;
        proof = _proof.AsMemory(0, _security.SignatureLength);
        flags = AuthorityFlags.None;
        return true;
    }

    /// <summary>
    /// The searcher's check of an owner's answer in a secure mode: the record verifies (once per version, through the
    /// cache; expired, stale, forged and mis-derived records fail) and the proof — a MAC under our pair key with the
    /// record's exchange key (agreed now if not held), or the owner's signature — covers our nonce, our exchange key
    /// and that record version. Counts what fails.
    /// </summary>
    private bool AcceptAuthority(in SignedRecord record, AuthorityFlags flags, ReadOnlySpan<byte> proof, ReadOnlySpan<byte> nonce, long now)
    {
        Span<byte> digest = stackalloc byte[RecordSigning.DigestLength];
        RecordStatus status = _recordCache.Verify(record, UnixSeconds(now), digest);
        if (status != RecordStatus.Valid)
        {
            RecordCounters.Count(status);
            return false;
        }

        PairKeys pairKeys = _pairKeys!;
        ReadOnlySpan<byte> searcher = pairKeys.PublicKey.Span;
        bool proven = (flags & AuthorityFlags.MacProof) != 0
            ? pairKeys.TryGetOrAgree(record.ExchangeKey.Span, out NSec.Cryptography.Key pairKey)
                && NonceProof.VerifyMac(pairKey, _options.NetworkId, record.Key, record.Sequence, digest, nonce, searcher, proof)
            : proof.Length == _security.SignatureLength
                && NonceProof.Verify(_security, record.PublicKey.Span, _options.NetworkId, record.Key, record.Sequence, digest, nonce, searcher, proof);
        if (!proven)
        {
            RecordCounters.ProofsRejected++;
            return false;
        }

        return true;
    }

    /// <summary>Whether <paramref name="record"/> is the owner's valid revocation of <paramref name="key"/> (secure modes); counts refusals.</summary>
    private bool IsValidRevocation(in SignedRecord record, Key256 key, long now)
    {
        if (record.Key != key || (record.Flags & RecordFlags.Revoked) == 0)
        {
            RecordCounters.RevocationsRejected++;
            return false;
        }

        RecordStatus status = _recordCache.Verify(record, UnixSeconds(now));
        if (status != RecordStatus.Valid)
        {
            RecordCounters.Count(status);
            RecordCounters.RevocationsRejected++;
            return false;
        }

        RecordCounters.RevocationsAccepted++;
        return true;
    }
}
