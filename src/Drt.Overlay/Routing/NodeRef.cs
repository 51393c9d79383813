using Drt.Overlay.Wire;

namespace Drt.Overlay.Routing;

/// <summary>
/// A registered key of a remote (or local) node and the peer that holds it. Routing structures store
/// these small values; the peer's addresses and RTT live once in the engine's peer table, under
/// <see cref="PeerId"/>, however many keys and table cells refer to it.
/// </summary>
internal readonly record struct NodeRef(Key256 Key, int PeerId);
