using System.Text.Json;
using Xunit;

namespace Drt.Node.Tests;

/// <summary>
/// Real <c>drt node</c> processes on loopback, driven by the drt CLI as a user would: register, every search flag,
/// update, unregister, route, status, graceful shutdown, restart from the peer cache.
/// </summary>
public sealed class NodeEndToEndTests
{
    private const string KeyA = "4000000000000000000000000000000000000000000000000000000000000001";
    private const string KeyB = "5000000000000000000000000000000000000000000000000000000000000002";
    private const string KeyC = "6000000000000000000000000000000000000000000000000000000000000003";
    private const string Between = "5800000000000000000000000000000000000000000000000000000000000000";

    [Fact]
    public async Task ThreeNodesRegisterSearchWithEveryFlagUpdateRouteAndUnregisterThroughTheCli()
    {
        await using DrtNode a = await DrtNode.StartAsync();
        await using DrtNode b = await DrtNode.StartAsync(null, "--bootstrap", a.Endpoint);
        await using DrtNode c = await DrtNode.StartAsync(null, "--bootstrap", a.Endpoint);

        Assert.Equal(KeyA, Json(await Ok(a.CliAsync("register", KeyA, "--data", "alpha", "--json"))).GetProperty("key").GetString());
        await Ok(b.CliAsync("register", KeyB, "--data", "beta"));
        await Ok(c.CliAsync("register", KeyC, "--data-file", WriteTemp([0xff, 0xfe, 0x00])));

        // Exact, from another node, once the ring has it (bounded poll).
        JsonElement beta = await SearchUntilFoundAsync(c, KeyB);
        Assert.Equal(("exact", KeyB, "beta"), (beta.GetProperty("match").GetString(), beta.GetProperty("key").GetString(), beta.GetProperty("data").GetString()));
        Assert.Equal(b.Endpoint, beta.GetProperty("endpoints")[0].GetString());
        Assert.InRange(beta.GetProperty("hops").GetInt32(), 1, 4);
        await SearchUntilFoundAsync(a, KeyC);
        await SearchUntilFoundAsync(b, KeyA);

        // Data that is not UTF-8 comes as base64.
        JsonElement binary = await SearchUntilFoundAsync(a, KeyC);
        Assert.Equal(Convert.ToBase64String([0xff, 0xfe, 0x00]), binary.GetProperty("data_base64").GetString());

        // Nearest: B's key is the nearest to a target just above it; with a range above B, C's.
        JsonElement near = Json(await Ok(a.CliAsync("search", Between, "--nearest", "--json")));
        Assert.Equal(("near", KeyB), (near.GetProperty("match").GetString(), near.GetProperty("key").GetString()));
        near = Json(await Ok(a.CliAsync("search", Between, "--min", Between, "--max", new string('f', 64), "--json")));
        Assert.Equal(KeyC, near.GetProperty("key").GetString());

        // The N nearest, nearest first; remote only unless --include-local.
        List<JsonElement> three = DrtProcess.JsonLines(await Ok(a.CliAsync("search", Between, "--nearest", "--max-results", "3", "--json")));
        Assert.Equal([KeyB, KeyC], three.Select(r => r.GetProperty("key").GetString()));
        three = DrtProcess.JsonLines(await Ok(a.CliAsync("search", Between, "--nearest", "--max-results", "3", "--include-local", "--json")));
        Assert.Equal([KeyB, KeyC, KeyA], three.Select(r => r.GetProperty("key").GetString()));

        // Any key in the range; an iterative search shows its hops before the answer.
        JsonElement any = Json(await Ok(a.CliAsync("search", Between, "--min", KeyB, "--max", KeyC, "--any-in-range", "--json")));
        Assert.Contains(any.GetProperty("key").GetString(), new[] { KeyB, KeyC });
        Assert.Equal("exact", any.GetProperty("match").GetString());
        List<JsonElement> iterative = DrtProcess.JsonLines(await Ok(a.CliAsync("search", KeyB, "--iterative", "--timeout", "5000", "--json")));
        Assert.Equal(KeyB, iterative[^1].GetProperty("key").GetString());
        Assert.All(iterative[..^1], hop => Assert.Equal("intermediate", hop.GetProperty("match").GetString()));

        // Without a daemon: a short-lived resolve-only instance joins through a node and searches.
        (int direct, string found, string why) = await DrtProcess.RunAsync("search", KeyB, "--bootstrap", a.Endpoint, "--bind", "127.0.0.1", "--timeout", "10000", "--json");
        Assert.True(direct == 0, $"exit {direct}: {why}");
        Assert.Equal(("exact", "beta"), (Json(found).GetProperty("match").GetString(), Json(found).GetProperty("data").GetString()));

        // The table output is readable.
        (_, string table, _) = await a.CliAsync("search", KeyB);
        Assert.Contains("MATCH", table);
        Assert.Contains("beta", table);

        // Update: searchers see the new data. Route: the message leaves toward B's key.
        await Ok(b.CliAsync("update", KeyB, "--data", "beta two"));
        for (int i = 0; i < 20 && (await SearchUntilFoundAsync(c, KeyB)).GetProperty("data").GetString() != "beta two"; i++)
        {
            await Task.Delay(250, DrtProcess.Cancel);
        }

        Assert.Equal("beta two", (await SearchUntilFoundAsync(c, KeyB)).GetProperty("data").GetString());
        string outcome = Json(await Ok(a.CliAsync("route", KeyB, "--data", "hello", "--json"))).GetProperty("outcome").GetString()!;
        Assert.Contains(outcome, new[] { "delivered", "forwarded" });

        // Status: active, with the registration and its leaf set.
        JsonElement status = await b.StatusAsync();
        Assert.Equal("active", status.GetProperty("state").GetString());
        Assert.Equal(b.Endpoint, status.GetProperty("endpoints")[0].GetString());
        JsonElement registration = status.GetProperty("registrations")[0];
        Assert.Equal(KeyB, registration.GetProperty("key").GetString());
        Assert.Contains(KeyA, registration.GetProperty("leafset").GetProperty("smaller").EnumerateArray().Select(k => k.GetString()));
        Assert.Contains(KeyC, registration.GetProperty("leafset").GetProperty("larger").EnumerateArray().Select(k => k.GetString()));
        Assert.True(status.GetProperty("routing_entries").GetInt32() >= 0);

        // Unregister: gone from the others; a search that finds nothing exits with 1.
        await Ok(b.CliAsync("unregister", KeyB));
        int exit = 0;
        for (int i = 0; i < 40 && exit != 1; i++)
        {
            (exit, _, _) = await c.CliAsync("search", KeyB, "--timeout", "2000");
            await Task.Delay(exit == 1 ? 0 : 250, DrtProcess.Cancel);
        }

        Assert.Equal(1, exit);
        (int again, _, string refused) = await b.CliAsync("unregister", KeyB);
        Assert.Equal(4, again);
        Assert.Contains("not registered", refused);
    }

    [Fact]
    public async Task AGracefulShutdownTakesItsKeysAwayAndARestartWithTheSameIdentityRejoinsFromThePeerCacheWithoutTheBootstrapNode()
    {
        // Mode resolve, so that B's key is the one its identity owns for "b": the restart must come back with it.
        await using DrtNode a = await DrtNode.StartAsync(null, "--security", "resolve");
        await using DrtNode b = await DrtNode.StartAsync(null, "--security", "resolve", "--bootstrap", a.Endpoint, "--register", "b", "--data", "beta");
        await using DrtNode c = await DrtNode.StartAsync(null, "--security", "resolve", "--bootstrap", a.Endpoint, "--register", "c", "--data", "gamma");
        string KeyB = (await b.StatusAsync()).GetProperty("registrations")[0].GetProperty("key").GetString()!;
        string KeyC = (await c.StatusAsync()).GetProperty("registrations")[0].GetProperty("key").GetString()!;
        await SearchUntilFoundAsync(c, KeyB);
        await SearchUntilFoundAsync(b, KeyC);

        // SIGTERM: exit 0 after unregistering, and its key is gone from the others at once (no death to detect).
        Assert.Equal(0, await b.StopAsync());
        Assert.Contains("closed", b.Log);
        (int exit, _, _) = await c.CliAsync("search", KeyB, "--timeout", "3000");
        Assert.Equal(1, exit);

        // The bootstrap node goes too; B comes back with no --bootstrap, from its peer cache, with the same identity (so
        // the same key for "b"), and finds C's key.
        Assert.Equal(0, await a.StopAsync());
        Assert.True(File.Exists(Path.Combine(b.DataDir, "peers.txt")), "no peer cache was saved");
        await b.RestartAsync("--security", "resolve", "--register", "b", "--data", "beta again");
        Assert.Equal(KeyB, (await b.StatusAsync()).GetProperty("registrations")[0].GetProperty("key").GetString());
        await SearchUntilFoundAsync(b, KeyC);
        Assert.Equal("beta again", (await SearchUntilFoundAsync(c, KeyB)).GetProperty("data").GetString());
    }

    [Fact]
    public async Task InModeResolveANodeRegistersTheKeysItsIdentityOwnsAndOthersFindThem()
    {
        await using DrtNode a = await DrtNode.StartAsync(null, "--security", "resolve");
        await using DrtNode b = await DrtNode.StartAsync(null, "--security", "resolve", "--bootstrap", a.Endpoint, "--register", "chat", "--data", "from b");
        Assert.True(File.Exists(Path.Combine(b.DataDir, "identity.pem")), "no identity was created");

        // The key b registered at start is the one its identity derives for "chat" (drt derive says which).
        (int exit, string output, string error) = await DrtProcess.RunAsync("derive", "chat", "--data-dir", b.DataDir, "--json");
        Assert.True(exit == 0, error);
        string chat = Json(output).GetProperty("key").GetString()!;
        Assert.Equal(chat, (await b.StatusAsync()).GetProperty("registrations")[0].GetProperty("key").GetString());
        Assert.Equal("from b", (await SearchUntilFoundAsync(a, chat)).GetProperty("data").GetString());

        // Register by classifier over the CLI; a key the identity does not own is refused (exit 4, InvalidKey).
        string mail = Json(await Ok(a.CliAsync("register", "--classifier", "mail", "--data", "from a", "--json"))).GetProperty("key").GetString()!;
        Assert.Equal("from a", (await SearchUntilFoundAsync(b, mail)).GetProperty("data").GetString());
        (exit, _, error) = await a.CliAsync("register", KeyA, "--data", "not mine");
        Assert.Equal(4, exit);
        Assert.Contains("InvalidKey", error);

        // A node in mode none does not mix with them.
        await using DrtNode plain = await DrtNode.StartAsync(null, "--bootstrap", a.Endpoint);
        (exit, _, _) = await plain.CliAsync("search", chat, "--timeout", "2000");
        Assert.Equal(1, exit);
        Assert.Equal("alone", (await plain.StatusAsync()).GetProperty("state").GetString());
    }

    [Fact]
    public async Task InModeConfidentialMembersWithCredentialsFindEachOtherAndANodeWithoutOneIsNotAnswered()
    {
        string keys = Directory.CreateTempSubdirectory("drt-members-").FullName;
        try
        {
            string root = Path.Combine(keys, "root.pem");
            Assert.Equal(0, (await DrtProcess.RunAsync("root", "keygen", "--out", root)).Exit);
            string[] dirs = [DrtNode.NewDataDir(), DrtNode.NewDataDir()];
            foreach (string dir in dirs)
            {
                Assert.Equal(0, (await DrtProcess.RunAsync("keygen", "--data-dir", dir)).Exit);
                (int issued, _, string error) = await DrtProcess.RunAsync("credential", "issue", "--root-key", root, "--member-identity", Path.Combine(dir, "identity.pem"), "--days", "1", "--out", Path.Combine(dir, "member.credential"));
                Assert.True(issued == 0, error);
            }

            string[] Member(string dir) => ["--security", "confidential", "--credential", Path.Combine(dir, "member.credential"), "--root-key", root];
            await using DrtNode a = await DrtNode.StartAsync(dirs[0], [.. Member(dirs[0]), "--register", "a", "--data", "secret a"]);
            await using DrtNode b = await DrtNode.StartAsync(dirs[1], [.. Member(dirs[1]), "--bootstrap", a.Endpoint, "--register", "b", "--data", "secret b"]);
            string keyA = (await a.StatusAsync()).GetProperty("registrations")[0].GetProperty("key").GetString()!;
            Assert.Equal("secret a", (await SearchUntilFoundAsync(b, keyA)).GetProperty("data").GetString());

            // No credential: refused at start (exit 2). A member of another root's network: never answered.
            (int refused, _, string why) = await DrtProcess.RunAsync("node", "--security", "membership", "--data-dir", DrtNode.NewDataDir(), "--port", "0");
            Assert.Equal(2, refused);
            Assert.Contains("--credential", why);
            string otherRoot = Path.Combine(keys, "other-root.pem");
            string strangerDir = DrtNode.NewDataDir();
            Assert.Equal(0, (await DrtProcess.RunAsync("root", "keygen", "--out", otherRoot)).Exit);
            Assert.Equal(0, (await DrtProcess.RunAsync("keygen", "--data-dir", strangerDir)).Exit);
            Assert.Equal(0, (await DrtProcess.RunAsync("credential", "issue", "--root-key", otherRoot, "--member-identity", Path.Combine(strangerDir, "identity.pem"), "--out", Path.Combine(strangerDir, "member.credential"))).Exit);
            await using DrtNode stranger = await DrtNode.StartAsync(strangerDir, "--security", "confidential", "--credential", Path.Combine(strangerDir, "member.credential"), "--root-key", otherRoot, "--bootstrap", a.Endpoint);
            (int exit, _, _) = await stranger.CliAsync("search", keyA, "--timeout", "3000");
            Assert.Equal(1, exit);
            Assert.Equal("alone", (await stranger.StatusAsync()).GetProperty("state").GetString());
        }
        finally
        {
            Directory.Delete(keys, recursive: true);
        }
    }

    [Fact]
    public async Task ConfigurationComesFromTheJsonFileThenDrtVariablesThenFlagsAndAListFlagReplacesTheConfiguredList()
    {
        string config = Path.Combine(Path.GetTempPath(), $"drt-config-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(config, $@"{{ ""Name"": ""from-json"", ""Data"": ""json data"", ""Register"": [ ""{KeyA}"" ] }}", DrtProcess.Cancel);
        try
        {
            // DRT_NAME beats the file; the --register flag replaces the file's list (only KeyB is registered); the file's
            // Data stays, as nothing overrides it.
            await using DrtNode node = await DrtNode.StartWithEnvironmentAsync(new Dictionary<string, string> { ["DRT_NAME"] = "from-env" }, "--config", config, "--register", KeyB);
            JsonElement status = await node.StatusAsync();
            Assert.Equal("from-env", status.GetProperty("name").GetString());
            Assert.Equal([KeyB], status.GetProperty("registrations").EnumerateArray().Select(r => r.GetProperty("key").GetString()));
            JsonElement own = Json(await Ok(node.CliAsync("search", KeyB, "--include-local", "--json")));
            Assert.Equal("json data", own.GetProperty("data").GetString());

            // A flag beats DRT_ too; without --register the file's list stands.
            await using DrtNode flagged = await DrtNode.StartWithEnvironmentAsync(new Dictionary<string, string> { ["DRT_NAME"] = "from-env" }, "--config", config, "--name", "from-flag");
            JsonElement flaggedStatus = await flagged.StatusAsync();
            Assert.Equal("from-flag", flaggedStatus.GetProperty("name").GetString());
            Assert.Equal([KeyA], flaggedStatus.GetProperty("registrations").EnumerateArray().Select(r => r.GetProperty("key").GetString()));
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public async Task ANodeBoundToIPv4AndIPv6LoopbackIsJoinedOverEachAndFoundWithBothEndpoints()
    {
        if (!System.Net.Sockets.Socket.OSSupportsIPv6 || !CanBind(System.Net.IPAddress.IPv6Loopback))
        {
            Assert.Skip("IPv6 loopback (::1) is not available on this host.");
        }

        await using DrtNode both = await DrtNode.StartAsync(null, "--bind", "127.0.0.1", "--bind", "::1", "--register", KeyA, "--data", "both");
        List<string> endpoints = [.. (await both.StatusAsync()).GetProperty("endpoints").EnumerateArray().Select(e => e.GetString()!)];
        Assert.Equal(2, endpoints.Count);
        Assert.StartsWith("127.0.0.1:", endpoints[0]);
        Assert.StartsWith("[::1]:", endpoints[1]);

        // One peer bootstraps over IPv6 loopback (a dual-stack node), another over IPv4 (an IPv4-only node).
        await using DrtNode overV6 = await DrtNode.StartAsync(null, "--bind", "::", "--bootstrap", endpoints[1], "--register", KeyB, "--data", "six");
        await using DrtNode overV4 = await DrtNode.StartAsync(null, "--bootstrap", endpoints[0], "--register", KeyC, "--data", "four");

        // Both find the two-address node's key, with both of its endpoints; it finds theirs; the dual-stack peer finds
        // the IPv4 peer's too.
        foreach (DrtNode peer in new[] { overV6, overV4 })
        {
            JsonElement found = await SearchUntilFoundAsync(peer, KeyA);
            Assert.Equal("both", found.GetProperty("data").GetString());
            Assert.Equal(endpoints, found.GetProperty("endpoints").EnumerateArray().Select(e => e.GetString()));
        }

        Assert.Equal("six", (await SearchUntilFoundAsync(both, KeyB)).GetProperty("data").GetString());
        Assert.Equal("four", (await SearchUntilFoundAsync(both, KeyC)).GetProperty("data").GetString());
        Assert.Equal("four", (await SearchUntilFoundAsync(overV6, KeyC)).GetProperty("data").GetString());

        // The readable status lists both endpoints too; the node stops cleanly.
        string table = await Ok(both.CliAsync("status"));
        Assert.Contains($"{endpoints[0]}, {endpoints[1]}", table);
        Assert.Equal(0, await both.StopAsync());
    }

    private static bool CanBind(System.Net.IPAddress address)
    {
        try
        {
            using var socket = new System.Net.Sockets.Socket(address.AddressFamily, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
            socket.Bind(new System.Net.IPEndPoint(address, 0));
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    private static async Task<JsonElement> SearchUntilFoundAsync(DrtNode from, string key)
    {
        string last = "";
        for (int i = 0; i < 60; i++)
        {
            (int exit, string output, string error) = await from.CliAsync("search", key, "--json", "--timeout", "3000");
            if (exit == 0)
            {
                return DrtProcess.JsonLines(output)[0];
            }

            last = $"exit {exit}: {output} {error}";
            await Task.Delay(250, DrtProcess.Cancel);
        }

        throw new Xunit.Sdk.XunitException($"{key} not found from {from.Endpoint} in 60 searches (last {last}); its log: {from.Log}");
    }

    private static async Task<string> Ok(Task<(int Exit, string Out, string Err)> run)
    {
        (int exit, string output, string error) = await run;
        Assert.True(exit == 0, $"exit {exit}: {error}{output}");
        Assert.Equal("", error);
        return output;
    }

    private static JsonElement Json(string output) => Assert.Single(DrtProcess.JsonLines(output));

    private static string WriteTemp(byte[] bytes)
    {
        string path = Path.Combine(Path.GetTempPath(), $"drt-data-{Guid.NewGuid():N}");
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
