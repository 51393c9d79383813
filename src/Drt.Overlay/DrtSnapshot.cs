using System.Net;
using Drt.Overlay.Wire;

namespace Drt.Overlay;

/// <summary>What an instance is and knows at one moment (<see cref="DrtInstance.GetSnapshotAsync"/>): for status displays and operations.</summary>
/// <param name="InstanceName">The instance's name.</param>
/// <param name="Status">Its state.</param>
/// <param name="LocalEndpoints">Where it receives: one endpoint per bound address.</param>
/// <param name="Registrations">Its registered keys with their leaf sets, in key order.</param>
/// <param name="RoutingTableEntries">Entries in the routing tables of all its keys together.</param>
/// <param name="KnownPeers">Peers it holds an address for (routing tables, leaf sets, caches).</param>
/// <param name="EstimatedNetworkSize">Registered keys in the whole ring, estimated from leaf-set density (0 when unknown).</param>
/// <param name="DatagramsSent">Datagrams sent since it opened.</param>
/// <param name="DatagramsReceived">Datagrams received since it opened.</param>
public sealed record DrtSnapshot(
    string InstanceName,
    DrtStatus Status,
    IReadOnlyList<IPEndPoint> LocalEndpoints,
    IReadOnlyList<DrtRegistrationSnapshot> Registrations,
    int RoutingTableEntries,
    int KnownPeers,
    double EstimatedNetworkSize,
    long DatagramsSent,
    long DatagramsReceived);

/// <summary>One registered key as its instance sees it.</summary>
/// <param name="Key">The key.</param>
/// <param name="AppData">The data it publishes.</param>
/// <param name="Smaller">Its leaf set's keys below it, nearest first.</param>
/// <param name="Larger">Its leaf set's keys above it, nearest first.</param>
/// <param name="Joining">
/// True until the key is published: placed among its neighbours (a key registered while Alone waits for the ring) and
/// known to every leaf-set member. Until then it is not the root of anything, and others may not find it yet.
/// </param>
public sealed record DrtRegistrationSnapshot(Key256 Key, ReadOnlyMemory<byte> AppData, IReadOnlyList<Key256> Smaller, IReadOnlyList<Key256> Larger, bool Joining);
