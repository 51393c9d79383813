using Drt.Overlay.Wire;
using Xunit;
using static Drt.Overlay.Tests.FacadeTestKit;

namespace Drt.Overlay.Tests;

/// <summary>
/// Key-based routing through the facade over real UDP: <see cref="DrtInstance.RouteAsync"/> and
/// <see cref="DrtInstance.MessageDelivered"/> on the six-instance mesh.
/// </summary>
public sealed class DrtRouteTests(SearchMesh mesh) : IClassFixture<SearchMesh>
{
    [Fact]
    public async Task EachMessageReachesTheOwnerOfTheClosestKeyOnceWithItsPayload()
    {
        var delivered = new List<(DrtInstance At, DrtMessageDeliveredEvent Message)>();
        var handlers = new List<(DrtInstance, EventHandler<DrtMessageDeliveredEvent>)>();
        foreach (DrtInstance node in mesh.Nodes)
        {
            EventHandler<DrtMessageDeliveredEvent> handler = (_, message) =>
            {
                lock (delivered)
                {
                    delivered.Add((node, message));
                }
            };
            node.MessageDelivered += handler;
            handlers.Add((node, handler));
        }

        try
        {
            var random = new Random(95);
            var sent = new List<(Key256 Target, DrtInstance From)>();
            for (int i = 0; i < 24; i++)
            {
                Key256 target = SearchMesh.InQuarter(random);
                DrtInstance from = mesh.Nodes[random.Next(mesh.Nodes.Count)];
                Assert.NotEqual(DrtRouteOutcome.Unreachable, await from.RouteAsync(target, PayloadOf(target), Cancel));
                sent.Add((target, from));
            }

            for (int poll = 0; poll < 40 && Count(delivered) < sent.Count; poll++)
            {
                await Task.Delay(Period / 5, Cancel);
            }

            await Task.Delay(Period, Cancel); // room for a second delivery, which must not come
            lock (delivered)
            {
                Assert.Equal(sent.Count, delivered.Count);
                foreach ((Key256 target, DrtInstance from) in sent)
                {
                    Key256 root = mesh.Owners.Keys.MinBy(k => k, Comparer<Key256>.Create((a, b) => Key256.CompareCloseness(target, a, b)));
                    (DrtInstance at, DrtMessageDeliveredEvent message) = Assert.Single(delivered, d => d.Message.Target == target);
                    Assert.Equal((mesh.Owners[root], root), (at, message.LocalKey));
                    Assert.Equal(PayloadOf(target), message.Payload.ToArray());
                    Assert.Equal(Loopback(from).Port, message.Origin.Port);
                    Assert.InRange(message.Hops, at == from ? 0 : 1, at == from ? 0 : 6);
                }
            }
        }
        finally
        {
            foreach ((DrtInstance node, EventHandler<DrtMessageDeliveredEvent> handler) in handlers)
            {
                node.MessageDelivered -= handler;
            }
        }
    }

    [Fact]
    public async Task APayloadOverTheLimitIsRefusedAndAMessageToOnesOwnKeyIsDeliveredHere()
    {
        DrtInstance node = mesh.Nodes[2];
        DrtException error = await Assert.ThrowsAsync<DrtException>(() => node.RouteAsync(Key256.One, new byte[DrtSettings.MaxRoutePayloadSize + 1], Cancel));
        Assert.Equal(DrtError.PayloadTooLarge, error.Error);
        Assert.Contains("1024", error.Message);

        Key256 own = mesh.Owners.First(o => o.Value == node).Key;
        var delivered = new TaskCompletionSource<DrtMessageDeliveredEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        EventHandler<DrtMessageDeliveredEvent> handler = (_, message) => delivered.TrySetResult(message);
        node.MessageDelivered += handler;
        try
        {
            Assert.Equal(DrtRouteOutcome.Delivered, await node.RouteAsync(own, "to myself"u8.ToArray(), Cancel));
            DrtMessageDeliveredEvent message = await delivered.Task.WaitAsync(TimeSpan.FromSeconds(30), Cancel);
            Assert.Equal((own, own, 0), (message.Target, message.LocalKey, message.Hops));
            Assert.Equal("to myself"u8.ToArray(), message.Payload.ToArray());
        }
        finally
        {
            node.MessageDelivered -= handler;
        }
    }

    [Fact]
    public async Task ASnapshotShowsEachRegistrationWithItsTrueLeafSetAndTheTablesAndTraffic()
    {
        Key256[] ring = [.. mesh.Owners.Keys.Order()];
        foreach (DrtInstance node in mesh.Nodes)
        {
            // Joins confirm with every leaf-set member (consistent join): on a busy machine that can take a few periods
            // after the keys are first found. Bounded poll.
            DrtSnapshot snapshot = await node.GetSnapshotAsync(Cancel);
            for (int poll = 0; poll < 60 && !snapshot.Registrations.All(r => IsTrue(r, ring)); poll++)
            {
                await Task.Delay(Period / 2, Cancel);
                snapshot = await node.GetSnapshotAsync(Cancel);
            }

            Assert.Equal((node.InstanceName, DrtStatus.Active), (snapshot.InstanceName, snapshot.Status));
            Assert.Equal(node.LocalEndpoints, snapshot.LocalEndpoints);
            Assert.Equal(mesh.Owners.Where(o => o.Value == node).Select(o => o.Key).Order(), snapshot.Registrations.Select(r => r.Key));
            foreach (DrtRegistrationSnapshot registration in snapshot.Registrations)
            {
                // Eight on each side, nearest first, around the ring (the mesh has 24 keys, so the sides never meet).
                int at = Array.IndexOf(ring, registration.Key);
                Assert.Equal(Enumerable.Range(1, 8).Select(i => ring[(at - i + ring.Length) % ring.Length]), registration.Smaller);
                Assert.Equal(Enumerable.Range(1, 8).Select(i => ring[(at + i) % ring.Length]), registration.Larger);
                Assert.Equal(SearchMesh.DataOf(registration.Key), registration.AppData.ToArray());
                Assert.False(registration.Joining);
            }

            Assert.True(snapshot.RoutingTableEntries > 0 && snapshot.KnownPeers >= SearchMesh.Instances - 1, $"{snapshot}");
            Assert.True(snapshot.DatagramsSent > 0 && snapshot.DatagramsReceived > 0);
            Assert.InRange(snapshot.EstimatedNetworkSize, 6, 100);
        }
    }

    private static bool IsTrue(DrtRegistrationSnapshot registration, Key256[] ring)
    {
        int at = Array.IndexOf(ring, registration.Key);
        return !registration.Joining
            && registration.Smaller.SequenceEqual(Enumerable.Range(1, 8).Select(i => ring[(at - i + ring.Length) % ring.Length]))
            && registration.Larger.SequenceEqual(Enumerable.Range(1, 8).Select(i => ring[(at + i) % ring.Length]));
    }

    private static byte[] PayloadOf(Key256 target) => [.. target.ToString().Select(c => (byte)c)];

    private static int Count(List<(DrtInstance, DrtMessageDeliveredEvent)> delivered)
    {
        lock (delivered)
        {
            return delivered.Count;
        }
    }
}
