using System.Buffers.Binary;
using System.Net.Sockets;
using Xunit;

namespace Drt.Node.Tests;

/// <summary>Bad input gets a clear answer: usage errors exit 2 with one line, a missing node exits 3, garbage on the control socket gets an error frame and the node carries on.</summary>
public sealed class CliErrorTests
{
    [Theory]
    [InlineData("search", "nothex")]
    [InlineData("search", "12")]
    [InlineData("register", "zz00000000000000000000000000000000000000000000000000000000000000", "--data", "x")]
    [InlineData("node", "--port", "70000")]
    [InlineData("node", "--bootstrap", "no-port")]
    [InlineData("node", "--security", "sparkly")]
    [InlineData("node", "--bind", "127.0.0.1", "--bind", "127.0.0.1")]
    [InlineData("node", "--bind", "::", "--bind", "127.0.0.1")]
    [InlineData("node", "--bind", "127.0.0.1", "--bind", "not-an-address")]
    [InlineData("search", "4000000000000000000000000000000000000000000000000000000000000000", "--bootstrap", "127.0.0.1:9", "--bind", "::1", "--bind", "::1")]
    [InlineData("frobnicate")]
    [InlineData("search", "4000000000000000000000000000000000000000000000000000000000000000", "--max-results", "0")]
    [InlineData("search", "4000000000000000000000000000000000000000000000000000000000000000", "--min", "5000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("search", "4000000000000000000000000000000000000000000000000000000000000000", "--any-in-range", "--max-results", "2")]
    [InlineData("search", "4000000000000000000000000000000000000000000000000000000000000000", "--unknown-flag")]
    [InlineData("register", "4000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("demo", "--nodes", "1")]
    public async Task AUsageErrorExitsWithTwoAndOneReadableLine(params string[] args)
    {
        (int exit, string output, string error) = await DrtProcess.RunAsync([.. args, "--control", "/tmp/drt-no-such-node.sock"]);
        Assert.True(exit == 2, $"exit {exit}; stdout {output}; stderr {error}");
        string line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("drt: ", line);
        Assert.Equal("", output);
    }

    [Fact]
    public async Task WithNoNodeRunningAClientCommandExitsWithThreeAndSaysHowToStartOne()
    {
        (int exit, _, string error) = await DrtProcess.RunAsync("status", "--control", "/tmp/drt-no-such-node.sock");
        Assert.Equal(3, exit);
        Assert.Contains("drt node", error);
    }

    [Fact]
    public async Task GarbageOnTheControlSocketGetsAnErrorFrameAndAClosedConnectionAndTheNodeCarriesOn()
    {
        await using DrtNode node = await DrtNode.StartAsync();
        var random = new Random(71);
        byte[][] garbage =
        [
            [0x7f, 0xff, 0xff, 0xff, 1, 2, 3],            // a length far beyond the cap
            [0, 0, 0, 5, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1],    // five bytes that are not MessagePack
            [0, 0, 0, 3, 0x93, 1, 2],                      // MessagePack, but not a request
            [.. Enumerable.Range(0, 64).Select(_ => (byte)random.Next(256))],
        ];
        foreach (byte[] bytes in garbage)
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(node.Control), DrtProcess.Cancel);
            await socket.SendAsync(bytes, DrtProcess.Cancel);
            socket.Shutdown(SocketShutdown.Send);

            // An answer (an error frame), then the end of the stream.
            var answer = new List<byte>();
            var buffer = new byte[4096];
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(DrtProcess.Cancel);
            limit.CancelAfter(TimeSpan.FromSeconds(10));
            int n;
            while ((n = await socket.ReceiveAsync(buffer, limit.Token)) > 0)
            {
                answer.AddRange(buffer.AsSpan(0, n));
            }

            Assert.True(answer.Count > 4, $"no error frame for {Convert.ToHexString(bytes)}");
            Assert.Equal(answer.Count - 4, BinaryPrimitives.ReadInt32BigEndian([.. answer.Take(4)]));
            Assert.Contains("Bad", System.Text.Encoding.UTF8.GetString([.. answer])); // BadFrame or BadRequest, as text in the map
        }

        // The node is unaffected.
        Assert.Equal("alone", (await node.StatusAsync()).GetProperty("state").GetString());
        (int exit, _, _) = await node.CliAsync("register", "4000000000000000000000000000000000000000000000000000000000000000", "--data", "still here");
        Assert.Equal(0, exit);
    }

    [Fact]
    public async Task TheDemoRunsASmallMeshAndReportsEverySearchRight()
    {
        (int exit, string output, string error) = await DrtProcess.RunAsync("demo", "--nodes", "6", "--keys", "20", "--searches", "60", "--json");
        Assert.True(exit == 0, $"exit {exit}: {error}");
        System.Text.Json.JsonElement summary = Assert.Single(DrtProcess.JsonLines(output));
        Assert.Equal(60, summary.GetProperty("searches").GetInt32());
        Assert.Equal(0, summary.GetProperty("wrong").GetInt32());
        Assert.Equal(60, summary.GetProperty("succeeded").GetInt32());
        Assert.True(summary.GetProperty("leaf_sets_right").GetBoolean());
        Assert.True(summary.GetProperty("datagrams_sent").GetInt64() > 0);
        Assert.Equal(0, summary.GetProperty("datagrams_lost").GetInt64());

        // --loss: every instance really drops that share of what it sends, and every answer is still right.
        (exit, output, error) = await DrtProcess.RunAsync("demo", "--nodes", "6", "--keys", "20", "--searches", "60", "--loss", "0.05", "--json");
        Assert.True(exit == 0, $"exit {exit}: {error}");
        summary = Assert.Single(DrtProcess.JsonLines(output));
        Assert.Equal(0, summary.GetProperty("wrong").GetInt32());
        Assert.True(summary.GetProperty("datagrams_lost").GetInt64() > 0, output);
    }
}
