using System.Net;
using Drt.Overlay.Engine;
using Drt.Overlay.Transport;
using Drt.Overlay.Wire;
using Xunit;

namespace Drt.Overlay.Tests.Engine;

/// <summary>
/// The engine over real UDP sockets on loopback: a ring of instances in one process, wired with the same static
/// knowledge as the simulator's rings, searching for each other's keys. Each engine runs on its transport's receive
/// thread; the test talks to it only through <see cref="Overlay.Engine.Engine.Post"/>.
/// </summary>
public sealed class UdpRingSearchTests
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task EveryInstanceFindsEveryOtherKeyOverLoopback(bool dualStack)
    {
        const int Seed = 32;
        const int Count = 16;
        var random = new Random(Seed);
        var nodes = new List<(Overlay.Engine.Engine Engine, UdpTransport Transport, Key256 Key, byte[] Data)>();
        try
        {
            for (int i = 0; i < Count; i++)
            {
                var transport = new UdpTransport(new UdpTransportOptions { BindAddress = dualStack ? IPAddress.IPv6Any : IPAddress.Loopback });
                var engine = new Overlay.Engine.Engine(new EngineOptions(), transport, TimeProvider.System, new Random(Seed + i));
                Key256 key = Key256.Random(random);
                byte[] data = [.. key.ToString().Select(c => (byte)c)];
                engine.Start();
                nodes.Add((engine, transport, key, data));
            }

            // Everyone knows its ring neighbours and a few others (the routing table a converged network would have),
            // addressed as 127.0.0.1:port, which the dual-stack sockets serve as IPv4-mapped.
            var sorted = nodes.OrderBy(n => n.Key).ToList();
            for (int i = 0; i < Count; i++)
            {
                var self = sorted[i];
                var known = new List<(Key256, IPEndPoint)>();
                for (int d = 1; d <= 3; d++)
                {
                    var next = sorted[(i + d) % Count];
                    var previous = sorted[(i - d + Count) % Count];
                    known.Add((next.Key, Loopback(next.Transport)));
                    known.Add((previous.Key, Loopback(previous.Transport)));
                }

                var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                self.Engine.Post(now =>
                {
                    self.Engine.AddLocalKey(self.Key, self.Data, now);
                    foreach ((Key256 key, IPEndPoint endpoint) in known)
                    {
                        self.Engine.Admit(key, endpoint);
                    }

                    ready.SetResult();
                });
                await ready.Task.WaitAsync(s_wait, TestContext.Current.CancellationToken);
            }

            for (int i = 0; i < 48; i++)
            {
                var from = nodes[random.Next(Count)];
                var owner = nodes[random.Next(Count)];
                if (owner.Key == from.Key)
                {
                    continue;
                }

                var done = new TaskCompletionSource<SearchOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
                from.Engine.Post(now =>
                {
                    if (!from.Engine.StartSearch(SearchRequest.Exact(owner.Key), o => done.SetResult(o), now))
                    {
                        done.SetException(new InvalidOperationException("the search did not start"));
                    }
                });
                SearchOutcome outcome = await done.Task.WaitAsync(s_wait, TestContext.Current.CancellationToken);

                SearchResultData result = Assert.Single(outcome.Results);
                Assert.True(result.Key == owner.Key, $"seed {Seed}: searched {owner.Key}, found {result.Key}");
                // The owner names itself by its bound address: 127.0.0.1, or ::1 for a socket bound to [::].
                Assert.Equal(owner.Transport.LocalEndpoints[0].Port, result.Endpoint.Port);
                Assert.True(IPAddress.IsLoopback(result.Endpoint.Address), $"{result.Endpoint} is not loopback");
                Assert.Equal(owner.Data, result.AppData);
            }

            Assert.All(nodes, n => Assert.Equal(0, n.Transport.Counters.ReceiverExceptions));
            Assert.All(nodes, n => Assert.Equal(0, n.Engine.Counters.Unsolicited));
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.Engine.StopAsync();
            }
        }
    }

    private static IPEndPoint Loopback(UdpTransport transport) => new(IPAddress.Loopback, transport.LocalEndpoints[0].Port);
}
