using Drt.Overlay.Routing;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Engine;

/// <summary>
/// Consistent join (MSPastry): a newly placed key answers for its range only once every member of its leaf set is
/// known to hold it in turn, or has been declared dead. Until then routed messages whose root it would be wait here,
/// and its lookup answers do not claim to cover the target, so a message or search never ends at a key its
/// neighbours do not yet route to. A member confirms by admitting the key (its admit push is a flood of its own
/// entry, from its own address) or by listing the key in a leaf-set reply; members not heard from are asked again
/// every confirmation round, and the key stops waiting after <see cref="MaxConfirmRounds"/> rounds in any case.
/// </summary>
internal sealed partial class Engine
{
    private const int MaxConfirmRounds = 8;
    private const long MaxConfirmIntervalMicros = 1_000_000;

    private readonly List<int> _heldRoutes = [];
    private long _nextConfirmRound = long.MaxValue;

    /// <summary>Starts confirming a key just placed: the first round goes out after one interval.</summary>
    private void BeginConfirming(LocalKey local, long now)
    {
        if (!local.Joining)
        {
            return;
        }

        local.ConfirmRounds = 0;
        _nextConfirmRound = Math.Min(_nextConfirmRound, now + ConfirmInterval);
        FinishJoiningIfHeard(local, now);
    }

    /// <summary>Runs a confirmation round when due; returns when the next is due.</summary>
    private long ConfirmJoins(long now)
    {
        if (now < _nextConfirmRound)
        {
            return _nextConfirmRound;
        }

        _nextConfirmRound = long.MaxValue;
        for (int k = 0; k < _keys.Count; k++)
        {
            LocalKey local = _keys[k];
            if (!local.Joining || !local.Placed || FinishJoiningIfHeard(local, now))
            {
                continue;
            }

            if (++local.ConfirmRounds > MaxConfirmRounds)
            {
                Counters.ConfirmTimeouts++;
                FinishJoining(local, now); // members that never answer are being declared dead meanwhile
                continue;
            }

            var request = new LeafSetRequest(Key256.Zero, new RouteEntry(local.Key, _selfEndpoint));
            AskUnconfirmed(local, local.LeafSet.Smaller, request, k, now);
            AskUnconfirmed(local, local.LeafSet.Larger, request, k, now);
            _nextConfirmRound = Math.Min(_nextConfirmRound, now + ConfirmInterval);
        }

        return _nextConfirmRound;
    }

    private void AskUnconfirmed(LocalKey local, ReadOnlySpan<NodeRef> side, LeafSetRequest request, int owner, long now)
    {
        foreach (NodeRef member in side)
        {
            if (member.PeerId != SelfPeerId && !local.HeardFrom.Contains(member.Key))
            {
                SendRequest(request with { ValidateKey = member.Key }, member.PeerId, RequestKind.LeafSet, owner, 0, NewMessageId(), now, maintenance: true, padTo: LeafSetPadding(local));
            }
        }
    }

    /// <summary><paramref name="member"/> showed that it holds <paramref name="local"/> in its leaf set.</summary>
    private void HeardFrom(LocalKey local, Key256 member, long now)
    {
        if (local.Joining && local.HeardFrom.Add(member))
        {
            FinishJoiningIfHeard(local, now);
        }
    }

    /// <summary>Ends the join of <paramref name="local"/> once every remote member has confirmed; true when it has.</summary>
    private bool FinishJoiningIfHeard(LocalKey local, long now)
    {
        if (!local.Joining || !local.Placed || !AllHeard(local, local.LeafSet.Smaller) || !AllHeard(local, local.LeafSet.Larger))
        {
            return false;
        }

        FinishJoining(local, now);
        return true;
    }

    private static bool AllHeard(LocalKey local, ReadOnlySpan<NodeRef> side)
    {
        foreach (NodeRef member in side)
        {
            if (member.PeerId != SelfPeerId && !local.HeardFrom.Contains(member.Key))
            {
                return false;
            }
        }

        return true;
    }

    private void FinishJoining(LocalKey local, long now)
    {
        local.Joining = false;
        local.HeardFrom.Clear();
        ReleaseHeldRoutes(now);
    }

    /// <summary>Routed messages waiting for a joining key decide again: the tables (and the key) may have moved on.</summary>
    private void ReleaseHeldRoutes(long now)
    {
        for (int i = _heldRoutes.Count - 1; i >= 0; i--)
        {
            int slot = _heldRoutes[i];
            _heldRoutes.RemoveAt(i);
            _ = ForwardOrDeliver(slot, now);
        }
    }

    /// <summary>Whether <paramref name="key"/> is among <paramref name="entries"/>.</summary>
    private static bool Lists(WireList<RouteEntry> entries, Key256 key)
    {
        foreach (RouteEntry entry in entries)
        {
            if (entry.Key == key)
            {
                return true;
            }
        }

        return false;
    }

    private long ConfirmInterval => Math.Min(MaxConfirmIntervalMicros, _options.MaintenancePeriodMicros / 4);
}
