using System.Net;
using Drt.Overlay.Engine;
using Drt.Overlay.Transport;
using Drt.Overlay.Wire;
using Xunit;

namespace Drt.Overlay.Tests.Engine;

/// <summary>
/// 32 instances in one process join one another over real UDP on loopback through the join protocol (no knowledge
/// handed to them), keep their leaf sets by maintenance, and then find every key: the simulator's checks at the
/// scale a process can hold. The maintenance period is shortened so that the test takes seconds; waits are bounded
/// polls, and nothing asserts a duration.
/// </summary>
public sealed class UdpJoinTests
{
    private const int Seed = 33;
    private const int Count = 32;
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ThirtyTwoInstancesJoinOverLoopbackEndWithTheTrueLeafSetsFindEveryKeyAndRouteToEveryRoot()
    {
        var random = new Random(Seed);
        var nodes = new List<Node>();
        CancellationToken cancel = TestContext.Current.CancellationToken;
        try
        {
            for (int i = 0; i < Count; i++)
            {
                var transport = new UdpTransport(new UdpTransportOptions { BindAddress = IPAddress.Loopback });
                var options = new EngineOptions
                {
                    MaintenancePeriod = TimeSpan.FromMilliseconds(500),
                    Bootstrap = i == 0 ? [] : [nodes[random.Next(i)].EndPoint],
                };
                var engine = new Overlay.Engine.Engine(options, transport, TimeProvider.System, new Random(Seed + i));
                var node = new Node(engine, transport, Key256.Random(random));
                nodes.Add(node);
                engine.Start();
                await OnEngine(node, now =>
                {
                    engine.AddLocalKey(node.Key, node.Data, now);
                    engine.Join(now);
                    return true;
                }, cancel);
                await Task.Delay(50, cancel);
            }

            string wrong = await UntilLeafSetsAreTrue(nodes, cancel);
            Assert.True(wrong.Length == 0, $"seed {Seed}: {wrong}");

            for (int i = 0; i < 64; i++)
            {
                Node from = nodes[random.Next(Count)];
                Node owner = nodes[random.Next(Count)];
                SearchOutcome outcome = await Search(from, SearchRequest.Exact(owner.Key, allowLocal: true), cancel);

                SearchResultData result = Assert.Single(outcome.Results);
                Assert.True(result.Key == owner.Key, $"seed {Seed}: searched {owner.Key}, found {result.Key}");
                Assert.Equal(owner.EndPoint.Port, result.Endpoint.Port);
                Assert.Equal(owner.Data, result.AppData);
            }

            await EveryRoutedMessageReachesItsRootOnce(nodes, random, cancel);
            Assert.All(nodes, n => Assert.Equal(0, n.Transport.Counters.ReceiverExceptions));

            // Three instances stop dead: the rest repair their leaf sets, and the dead keys are never found.
            List<Node> dead = [.. nodes.OrderBy(_ => random.Next()).Take(3)];
            foreach (Node node in dead)
            {
                await node.Engine.StopAsync();
                nodes.Remove(node);
            }

            wrong = await UntilLeafSetsAreTrue(nodes, cancel);
            Assert.True(wrong.Length == 0, $"seed {Seed}: after three stopped, {wrong}");
            foreach (Node gone in dead)
            {
                SearchOutcome outcome = await Search(nodes[random.Next(nodes.Count)], SearchRequest.Exact(gone.Key), cancel);
                Assert.Empty(outcome.Results);
            }
        }
        finally
        {
            foreach (Node node in nodes)
            {
                await node.Engine.StopAsync();
            }
        }
    }

    /// <summary>Routes 64 messages to random targets; each must reach the instance whose key is nearest, once.</summary>
    private static async Task EveryRoutedMessageReachesItsRootOnce(List<Node> nodes, Random random, CancellationToken cancel)
    {
        const int Messages = 64;
        var delivered = new System.Collections.Concurrent.ConcurrentQueue<(int Sequence, Key256 Root)>();
        foreach (Node node in nodes)
        {
            node.Engine.DeliverHandler = (in RoutedMessage message, Key256 root) => delivered.Enqueue((BitConverter.ToInt32(message.Payload.Span), root));
        }

        var expected = new Key256[Messages];
        for (int i = 0; i < Messages; i++)
        {
            Key256 target = Key256.Random(random);
            expected[i] = nodes.MinBy(n => n.Key, Comparer<Key256>.Create((a, b) => Key256.CompareCloseness(target, a, b)))!.Key;
            byte[] payload = BitConverter.GetBytes(i);
            Node from = nodes[random.Next(Count)];
            RouteResult result = await OnEngineAsync<RouteResult>(from, (now, done) => from.Engine.Route(target, 0, payload, now, done), cancel);
            Assert.True(result is RouteResult.Forwarded or RouteResult.Delivered, $"seed {Seed}: message {i} left with {result}");
        }

        // Bounded poll: each hop acknowledged, so the rest of the way takes a few round trips.
        for (int poll = 0; poll < 100 && delivered.Count < Messages; poll++)
        {
            await Task.Delay(100, cancel);
        }

        Assert.Equal(Messages, delivered.Count);
        Assert.Equal(Enumerable.Range(0, Messages), delivered.Select(d => d.Sequence).Order());
        Assert.All(delivered, d => Assert.True(d.Root == expected[d.Sequence], $"seed {Seed}: message {d.Sequence} delivered at {d.Root.ToShortString()}, not its root {expected[d.Sequence].ToShortString()}"));
    }

    private static async Task<SearchOutcome> Search(Node from, SearchRequest request, CancellationToken cancel)
    {
        var done = new TaskCompletionSource<SearchOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        from.Engine.Post(now =>
        {
            if (!from.Engine.StartSearch(request, o => done.SetResult(o), now))
            {
                done.SetException(new InvalidOperationException("the search did not start"));
            }
        });
        return await done.Task.WaitAsync(s_wait, cancel);
    }

    private static async Task<T> OnEngineAsync<T>(Node node, Action<long, Action<T>> start, CancellationToken cancel)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        node.Engine.Post(now => start(now, done.SetResult));
        return await done.Task.WaitAsync(s_wait, cancel);
    }

    /// <summary>Bounded poll: every half second, at most 60 times, until every leaf set is the true one; "" then.</summary>
    private static async Task<string> UntilLeafSetsAreTrue(List<Node> nodes, CancellationToken cancel)
    {
        string wrong = "";
        for (int poll = 0; poll < 60; poll++)
        {
            await Task.Delay(500, cancel);
            wrong = await FirstWrongLeafSet(nodes, cancel);
            if (wrong.Length == 0)
            {
                break;
            }
        }

        return wrong;
    }

    /// <summary>Compares every leaf set, read on its engine's thread, with the true neighbours; "" when all agree.</summary>
    private static async Task<string> FirstWrongLeafSet(List<Node> nodes, CancellationToken cancel)
    {
        List<Node> sorted = [.. nodes.OrderBy(n => n.Key)];
        int side = new EngineOptions().LeafSetSide;
        for (int i = 0; i < sorted.Count; i++)
        {
            Node node = sorted[i];
            (Key256[] larger, Key256[] smaller) = await OnEngine(
                node,
                _ => (node.Engine.Keys[0].LeafSet.Larger.ToArray().Select(n => n.Key).ToArray(), node.Engine.Keys[0].LeafSet.Smaller.ToArray().Select(n => n.Key).ToArray()),
                cancel);
            Key256[] expectedLarger = [.. Enumerable.Range(1, side).Select(d => sorted[(i + d) % sorted.Count].Key)];
            Key256[] expectedSmaller = [.. Enumerable.Range(1, side).Select(d => sorted[(i - d + sorted.Count) % sorted.Count].Key)];
            if (!larger.SequenceEqual(expectedLarger) || !smaller.SequenceEqual(expectedSmaller))
            {
                return $"{node.Key.ToShortString()} has {larger.Length}+{smaller.Length} members, {larger.Except(expectedLarger).Count() + smaller.Except(expectedSmaller).Count()} of them not true neighbours";
            }
        }

        return "";
    }

    private static async Task<T> OnEngine<T>(Node node, Func<long, T> read, CancellationToken cancel)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        node.Engine.Post(now => done.SetResult(read(now)));
        return await done.Task.WaitAsync(s_wait, cancel);
    }

    private sealed class Node(Overlay.Engine.Engine engine, UdpTransport transport, Key256 key)
    {
        public Overlay.Engine.Engine Engine { get; } = engine;

        public UdpTransport Transport { get; } = transport;

        public Key256 Key { get; } = key;

        public byte[] Data { get; } = [.. key.ToString().Select(c => (byte)c)];

        public IPEndPoint EndPoint { get; } = new(IPAddress.Loopback, transport.LocalEndpoints[0].Port);
    }
}
