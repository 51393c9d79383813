using System.Net;
using Drt.Overlay.Wire;

namespace Drt.Overlay;

/// <summary>
/// Something an instance tells its application (DRT_EVENT_DATA): one of the records derived from this. Events arrive
/// in the order they happened, on a thread of the instance's own (never the engine's), as .NET events on
/// <see cref="DrtInstance"/> and as the stream <see cref="DrtInstance.Events"/>.
/// </summary>
public abstract record DrtEvent;

/// <summary>The instance's status changed (DRT_EVENT_STATUS_CHANGED).</summary>
/// <param name="Status">The new status.</param>
/// <param name="PreviousStatus">The status before.</param>
/// <param name="BootstrapEndpoints">
/// When the new status is <see cref="DrtStatus.Alone"/>: the bootstrap endpoints the instance is trying (possibly
/// none); otherwise empty.
/// </param>
/// <param name="BootstrapProblem">
/// When Alone: why the bootstrap provider found less than it might have (a DNS failure, an unreadable peer cache), or
/// null.
/// </param>
public sealed record DrtStatusChangedEvent(DrtStatus Status, DrtStatus PreviousStatus, IReadOnlyList<IPEndPoint> BootstrapEndpoints, string? BootstrapProblem) : DrtEvent;

/// <summary>Whether a key entered or left a leaf set (DRT_LEAFSET_KEY_CHANGE_TYPE).</summary>
public enum DrtLeafSetChange
{
    /// <summary>The remote key joined the local key's leaf set.</summary>
    Added,

    /// <summary>The remote key left it: unregistered, dead, or pushed out by a nearer key.</summary>
    Deleted,
}

/// <summary>The leaf set of one of this instance's keys gained or lost a key (DRT_EVENT_LEAFSET_KEY_CHANGED).</summary>
/// <param name="LocalKey">This instance's registered key whose leaf set changed.</param>
/// <param name="RemoteKey">The key that was added or deleted.</param>
/// <param name="Change">Whether the remote key joined the local key's leaf set or left it.</param>
/// <param name="Endpoints">Where the remote key's owner receives (empty when it is this instance's own key).</param>
public sealed record DrtLeafSetKeyChangedEvent(Key256 LocalKey, Key256 RemoteKey, DrtLeafSetChange Change, IReadOnlyList<IPEndPoint> Endpoints) : DrtEvent;

/// <summary>The state of a registration (DRT_REGISTRATION_STATE).</summary>
public enum DrtRegistrationState
{
    /// <summary>
    /// Others can no longer resolve the key: the security provider cannot vouch for it any more (its credential
    /// expired). Register it again once the provider can.
    /// </summary>
    Unresolvable = 1,
}

/// <summary>A registration's state changed (DRT_EVENT_REGISTRATION_STATE_CHANGED).</summary>
/// <param name="LocalKey">The registered key.</param>
/// <param name="State">Its new state.</param>
public sealed record DrtRegistrationStateChangedEvent(Key256 LocalKey, DrtRegistrationState State) : DrtEvent;

/// <summary>
/// Events were dropped because their reader fell behind (the queue is bounded, so that a slow reader never stalls the
/// instance). It comes in the place of the lost events, before the next one delivered.
/// </summary>
/// <param name="Count">How many events were lost here.</param>
public sealed record DrtEventsDroppedEvent(long Count) : DrtEvent;

/// <summary>
/// A routed message reached this instance, the root of its target (Pastry's deliver). No instance delivers a message
/// twice; a message whose acknowledgements were all lost may, rarely, be delivered by a second root as well.
/// </summary>
/// <param name="Target">The key the message was routed to.</param>
/// <param name="LocalKey">This instance's registered key nearest the target, which took it.</param>
/// <param name="Origin">Where the sender receives (for an answer sent directly).</param>
/// <param name="Hops">Overlay hops it took to get here (0 when the sender routed to itself).</param>
/// <param name="Payload">The sender's bytes (this event's own copy).</param>
public sealed record DrtMessageDeliveredEvent(Key256 Target, Key256 LocalKey, IPEndPoint Origin, int Hops, ReadOnlyMemory<byte> Payload) : DrtEvent;

/// <summary>How a routed message left this instance (<see cref="DrtInstance.RouteAsync"/>).</summary>
public enum DrtRouteOutcome
{
    /// <summary>Delivered at its root: this instance, or the first hop.</summary>
    Delivered,

    /// <summary>The first hop acknowledged it and took it on; the rest of the way goes hop by hop.</summary>
    Forwarded,

    /// <summary>No next hop answered, or none is known (the instance is alone and registered nothing): it is lost.</summary>
    Unreachable,
}
