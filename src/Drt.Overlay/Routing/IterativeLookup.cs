using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Routing;

/// <summary>Per-hop outcome, as DRT_ADDRESS_FLAGS.</summary>
[Flags]
internal enum HopOutcome
{
    /// <summary>Not contacted yet or no answer recorded.</summary>
    None = 0,

    /// <summary>It answered and its answer was used.</summary>
    Accepted = 0x01,

    /// <summary>It answered, but the answer was not used.</summary>
    Rejected = 0x02,

    /// <summary>No answer after the retries.</summary>
    Unreachable = 0x04,

    /// <summary>It referred us to a node already on the path.</summary>
    Loop = 0x08,

    /// <summary>It said it was too busy.</summary>
    TooBusy = 0x10,

    /// <summary>It no longer holds the key we expected of it.</summary>
    BadValidateId = 0x20,

    /// <summary>Its answer looked wrong (counts towards the suspicious cap).</summary>
    Suspect = 0x40,

    /// <summary>It was asked to prove ownership of the result (inquire).</summary>
    Inquire = 0x80,
}

/// <summary>One node a search contacted, with what happened.</summary>
internal struct LookupHop
{
    /// <summary>The node.</summary>
    public NodeRef Node;

    /// <summary>What happened.</summary>
    public HopOutcome Outcome;

    /// <summary>Referrals from the searcher to this node (0 = a seed the searcher knew itself).</summary>
    public int Depth;

    /// <summary>Round-trip time of its answer in microseconds; 0 when it did not answer.</summary>
    public int RttMicros;
}

/// <summary>
/// The resolver side of one iterative search (DRT's always-iterative, resolver-driven resolve, with
/// Kademlia's α parallel queries): candidates ranked by closeness to the target, at most α in flight,
/// every contacted node recorded with its outcome, referrals to visited nodes ignored, and hard caps on
/// useful hops (22, as DRT) and suspicious answers (6, as DRT).
/// </summary>
/// <remarks>
/// <para>
/// The lookup decides, the engine acts: the engine asks <see cref="TryNextQuery"/> whom to query, sends,
/// and reports each answer (<see cref="OnReply"/>), timeout or rejection. A closer candidate always wins
/// the next query, so backtracking falls out of the ranking: when a branch dies the next-closest untried
/// candidate is queried.
/// </para>
/// <para>
/// Termination follows Kademlia: the search is over when none of the <see cref="Width"/> closest live
/// candidates is left to query and nothing is in flight; then the closest known keys in range are the
/// answer, because the nodes nearest the target (whose leaf sets cover it) have all answered. The engine
/// then confirms a result with the owner itself (inquire with a fresh nonce) before returning it.
/// </para>
/// </remarks>
internal sealed class IterativeLookup
{
    /// <summary>DRT's cap on useful hops.</summary>
    public const int DefaultMaxUsefulHops = 22;

    /// <summary>DRT's cap on suspicious answers.</summary>
    public const int DefaultMaxSuspicious = 6;

    /// <summary>The most candidates one lookup tracks; farther ones are dropped.</summary>
    public const int MaxCandidates = 128;

    private enum State : byte
    {
        Pending,
        InFlight,
        Replied,
        Failed,
    }

    private readonly List<(NodeRef Node, State State, int Depth)> _candidates = new(32);
    private readonly List<LookupHop> _path = new(16);
    private readonly int _selfPeerId;
    private int _inFlight;
    private int _usefulHops;
    private int _suspicious;

    /// <summary>Creates a lookup.</summary>
    /// <param name="target">The key searched for.</param>
    /// <param name="kind">What counts as a result.</param>
    /// <param name="min">Smallest acceptable key (numeric); the target must not be below it.</param>
    /// <param name="max">Largest acceptable key (numeric); the target must not be above it.</param>
    /// <param name="maxResults">How many results (1 for Exact and AnyInRange).</param>
    /// <param name="alpha">Queries in flight at once.</param>
    /// <param name="selfPeerId">The peer id the engine uses for itself: never queried, and its keys are results only when <paramref name="allowLocal"/>.</param>
    /// <param name="allowLocal">Whether the searcher's own keys may be results.</param>
    public IterativeLookup(Key256 target, LookupKind kind, Key256 min, Key256 max, int maxResults, int alpha, int selfPeerId, bool allowLocal)
    {
        if (min > max || target < min || target > max)
        {
            throw new ArgumentException("The target must lie in [min, max].", nameof(target));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(maxResults, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(alpha, 1);
        Target = target;
        Kind = kind;
        Min = min;
        Max = max;
        MaxResults = kind == LookupKind.Nearest ? maxResults : 1;
        Alpha = alpha;
        _selfPeerId = selfPeerId;
        AllowLocal = allowLocal;
    }

    /// <summary>The key searched for.</summary>
    public Key256 Target { get; }

    /// <summary>What counts as a result.</summary>
    public LookupKind Kind { get; }

    /// <summary>Smallest acceptable key.</summary>
    public Key256 Min { get; }

    /// <summary>Largest acceptable key.</summary>
    public Key256 Max { get; }

    /// <summary>Results wanted.</summary>
    public int MaxResults { get; }

    /// <summary>Parallel queries.</summary>
    public int Alpha { get; }

    /// <summary>Whether the searcher's own keys may be results.</summary>
    public bool AllowLocal { get; }

    /// <summary>How many of the closest candidates must have answered before the search ends.</summary>
    public int Width => Math.Max(Alpha, MaxResults);

    /// <summary>Cap on answers counted as useful hops.</summary>
    public int MaxUsefulHops { get; init; } = DefaultMaxUsefulHops;

    /// <summary>Cap on suspicious answers.</summary>
    public int MaxSuspicious { get; init; } = DefaultMaxSuspicious;

    /// <summary>Queries sent and not yet answered, timed out or rejected.</summary>
    public int InFlight => _inFlight;

    /// <summary>Answers received.</summary>
    public int UsefulHops => _usefulHops;

    /// <summary>Every node contacted, in the order contacted, with its outcome.</summary>
    public IReadOnlyList<LookupHop> Path => _path;

    /// <summary>Marks, in <paramref name="marks"/> (indexed by peer id), every peer this lookup refers to.</summary>
    public void MarkPeers(Span<bool> marks)
    {
        foreach ((NodeRef node, State _, int _) in _candidates)
        {
            PeerTable.Mark(marks, node.PeerId);
        }

        foreach (LookupHop hop in _path)
        {
            PeerTable.Mark(marks, hop.Node.PeerId);
        }
    }

    /// <summary>True when a cap was hit: the search stops with what it has.</summary>
    public bool Exhausted => _usefulHops >= MaxUsefulHops || _suspicious >= MaxSuspicious;

    /// <summary>
    /// True when the search is over: a cap was hit, or an any-in-range match is known, or no query is in
    /// flight and none of the <see cref="Width"/> closest live candidates is left to ask.
    /// </summary>
    public bool IsFinished
    {
        get
        {
            if (Exhausted || (Kind == LookupKind.AnyInRange && HasAnyMatch()) || (Kind == LookupKind.Exact && HasExactMatch()))
            {
                return true;
            }

            return _inFlight == 0 && NextPending() < 0;
        }
    }

    /// <summary>Adds a candidate the searcher knows itself (from its routing table, leaf sets or bootstrap).</summary>
    public void AddSeed(NodeRef node) => AddCandidate(node, 0);

    /// <summary>Picks the next node to query, if the window has room and the search is not over.</summary>
    public bool TryNextQuery(out NodeRef node)
    {
        node = default;
        if (_inFlight >= Alpha || IsFinished)
        {
            return false;
        }

        int i = NextPending();
        if (i < 0)
        {
            return false;
        }

        (NodeRef n, _, int depth) = _candidates[i];
        _candidates[i] = (n, State.InFlight, depth);
        _inFlight++;
        _path.Add(new LookupHop { Node = n, Depth = depth });
        node = n;
        return true;
    }

    /// <summary>
    /// <paramref name="from"/> answered: its referrals join the candidates (visited ones are ignored and
    /// marked as a loop). <paramref name="outcome"/> adds flags such as <see cref="HopOutcome.BadValidateId"/>
    /// or <see cref="HopOutcome.Suspect"/>, which count towards the suspicious cap.
    /// </summary>
    public void OnReply(NodeRef from, ReadOnlySpan<NodeRef> referrals, int rttMicros, HopOutcome outcome = HopOutcome.None)
    {
        // A bad answer is not used, and its sender no longer counts among the closest live candidates.
        bool bad = (outcome & (HopOutcome.BadValidateId | HopOutcome.Suspect)) != 0;
        if (!Settle(from, bad ? State.Failed : State.Replied))
        {
            return;
        }

        _usefulHops++;
        if (bad)
        {
            _suspicious++;
        }

        int depth = DepthOf(from) + 1;
        bool loop = false;
        if (!bad)
        {
            foreach (NodeRef referral in referrals)
            {
                loop |= !AddCandidate(referral, depth) && WasContacted(referral.Key);
            }
        }

        HopOutcome recorded = (bad ? HopOutcome.Rejected : HopOutcome.Accepted) | outcome | (loop ? HopOutcome.Loop : HopOutcome.None);
        Record(from, recorded, rttMicros);
    }

    /// <summary><paramref name="node"/> did not answer after the engine's retries.</summary>
    public void OnUnreachable(NodeRef node)
    {
        if (Settle(node, State.Failed))
        {
            Record(node, HopOutcome.Unreachable, 0);
        }
    }

    /// <summary><paramref name="node"/> refused (busy) or its result failed the ownership check.</summary>
    public void OnRejected(NodeRef node, HopOutcome outcome)
    {
        int i = IndexOf(node.Key);
        if (i < 0)
        {
            return;
        }

        if (_candidates[i].State == State.InFlight)
        {
            _inFlight--;
        }

        _candidates[i] = (_candidates[i].Node, State.Failed, _candidates[i].Depth);
        if ((outcome & (HopOutcome.BadValidateId | HopOutcome.Suspect)) != 0)
        {
            _suspicious++;
        }

        Record(node, HopOutcome.Rejected | outcome, 0);
    }

    /// <summary>
    /// The results so far, best first: keys in [min, max] not known to have failed, ranked by closeness to
    /// the target, at most <see cref="MaxResults"/>. For <see cref="LookupKind.Exact"/> only the target key.
    /// </summary>
    public int GetResults(Span<NodeRef> destination, out int depthOfBest)
    {
        depthOfBest = 0;
        int written = 0;
        foreach ((NodeRef node, State state, int depth) in _candidates)
        {
            if (written == Math.Min(destination.Length, MaxResults))
            {
                break;
            }

            if (state != State.Failed && IsMatch(node))
            {
                if (written == 0)
                {
                    depthOfBest = depth;
                }

                destination[written++] = node;
            }
        }

        return written;
    }

    /// <summary>
    /// True when <paramref name="node"/> is among the results as they stand (one of the <see cref="MaxResults"/> best
    /// matching candidates not known to have failed): losing it would change the answer.
    /// </summary>
    public bool IsLeadingResult(NodeRef node)
    {
        int rank = 0;
        foreach ((NodeRef candidate, State state, _) in _candidates)
        {
            if (rank == MaxResults)
            {
                break;
            }

            if (state != State.Failed && IsMatch(candidate))
            {
                if (candidate.Key == node.Key)
                {
                    return true;
                }

                rank++;
            }
        }

        return false;
    }

    private bool IsMatch(NodeRef node)
    {
        if (node.PeerId == _selfPeerId && !AllowLocal)
        {
            return false;
        }

        return Kind == LookupKind.Exact ? node.Key == Target : node.Key >= Min && node.Key <= Max;
    }

    private bool HasAnyMatch()
    {
        foreach ((NodeRef node, State state, _) in _candidates)
        {
            if (state != State.Failed && IsMatch(node))
            {
                return true;
            }
        }

        return false;
    }

    private bool HasExactMatch()
    {
        int i = IndexOf(Target);
        return i >= 0 && _candidates[i].State != State.Failed && IsMatch(_candidates[i].Node);
    }

    // The closest pending candidate that is among the Width closest live candidates or among the
    // MaxResults closest live candidates in range; -1 if none. The second window matters when [min, max]
    // cuts off one side of the target: the nearest keys in range may then lie beyond the Width closest
    // overall, and the nodes around them must answer before we know nothing nearer is in range.
    private int NextPending()
    {
        int live = 0;
        int inRange = 0;
        for (int i = 0; i < _candidates.Count && (live < Width || inRange < MaxResults); i++)
        {
            (NodeRef node, State state, _) = _candidates[i];
            if (state == State.Failed)
            {
                continue;
            }

            bool matches = IsMatch(node);
            if (state == State.Pending && node.PeerId != _selfPeerId && (live < Width || (matches && inRange < MaxResults)))
            {
                return i;
            }

            live++;
            inRange += matches ? 1 : 0;
        }

        return -1;
    }

    // Inserts in closeness order; false when already known (or dropped as too far).
    private bool AddCandidate(NodeRef node, int depth)
    {
        if (IndexOf(node.Key) >= 0)
        {
            return false;
        }

        int position = _candidates.Count;
        while (position > 0 && Key256.CompareCloseness(Target, node.Key, _candidates[position - 1].Node.Key) < 0)
        {
            position--;
        }

        if (position >= MaxCandidates)
        {
            return false;
        }

        _candidates.Insert(position, (node, State.Pending, depth));
        if (_candidates.Count > MaxCandidates)
        {
            // Drop the farthest: it can never be among the closest again unless nearer ones fail.
            int last = _candidates.Count - 1;
            if (_candidates[last].State == State.InFlight)
            {
                _inFlight--;
            }

            _candidates.RemoveAt(last);
        }

        return true;
    }

    private bool Settle(NodeRef node, State state)
    {
        int i = IndexOf(node.Key);
        if (i < 0 || _candidates[i].State != State.InFlight)
        {
            return false; // late or unsolicited: ignore
        }

        _candidates[i] = (_candidates[i].Node, state, _candidates[i].Depth);
        _inFlight--;
        return true;
    }

    private int IndexOf(Key256 key)
    {
        for (int i = 0; i < _candidates.Count; i++)
        {
            if (_candidates[i].Node.Key == key)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// Overlay hops from the searcher to <paramref name="key"/>'s node: one more than the referrals that led to it
    /// (whether or not it was then queried itself); 1 for a node the searcher knew or was never told of.
    /// </summary>
    public int HopsTo(Key256 key)
    {
        int i = IndexOf(key);
        return i < 0 ? 1 : _candidates[i].Depth + 1;
    }

    private int DepthOf(NodeRef node)
    {
        int i = IndexOf(node.Key);
        return i < 0 ? 0 : _candidates[i].Depth;
    }

    private bool WasContacted(Key256 key)
    {
        foreach (LookupHop hop in _path)
        {
            if (hop.Node.Key == key)
            {
                return true;
            }
        }

        return false;
    }

    private void Record(NodeRef node, HopOutcome outcome, int rttMicros)
    {
        for (int i = _path.Count - 1; i >= 0; i--)
        {
            if (_path[i].Node.Key == node.Key)
            {
                LookupHop hop = _path[i];
                hop.Outcome |= outcome;
                hop.RttMicros = rttMicros;
                _path[i] = hop;
                return;
            }
        }

        _path.Add(new LookupHop { Node = node, Outcome = outcome, RttMicros = rttMicros });
    }
}
