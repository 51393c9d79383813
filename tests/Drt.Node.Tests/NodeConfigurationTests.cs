using System.Net;
using System.Text;
using Drt.Node.Cli;
using Drt.Node.Node;
using Microsoft.Extensions.Configuration;
using Xunit;

namespace Drt.Node.Tests;

/// <summary>
/// drt node's list settings from configuration, in process: each list comes whole from the last source that gives it,
/// as a list or one comma-separated value; and the --bind addresses are checked with messages that name the flag.
/// </summary>
public sealed class NodeConfigurationTests
{
    [Fact]
    public void BindIsAListInJsonOrOneValueAsBeforeAndNoneMeansEveryAddress()
    {
        Assert.Equal(["::"], Load(json: """{ "Bind": "::" }""").Bind); // tools/systemd/drt.json's form
        NodeOptions two = Load(json: """{ "Bind": [ "127.0.0.1", "::1" ] }""");
        Assert.Equal([IPAddress.Loopback, IPAddress.IPv6Loopback], two.BindAddresses);

        NodeOptions none = Load(json: """{ "Name": "n" }""");
        Assert.Empty(none.Bind);
        Assert.Equal([IPAddress.IPv6Any], none.BindAddresses);
    }

    [Fact]
    public void AListComesWholeFromTheLastSourceThatGivesItAndMayBeOneCommaSeparatedValue()
    {
        // DRT_BIND__0 over a JSON list of three: one address, not the first replaced and two kept.
        Assert.Equal(["10.0.0.9"], Load("""{ "Bind": [ "127.0.0.1", "127.0.0.2", "127.0.0.3" ] }""", new() { ["BIND:0"] = "10.0.0.9" }).Bind);

        // DRT_BIND=a,b and DRT_BOOTSTRAP=a:1,b:2 (documented; the binder alone dropped a list given as one value).
        NodeOptions fromEnvironment = Load("""{ "Bootstrap": [ "seed:3540" ] }""", new() { ["BIND"] = "127.0.0.1, ::1", ["BOOTSTRAP"] = "a:1,b:2" });
        Assert.Equal(["127.0.0.1", "::1"], fromEnvironment.Bind);
        Assert.Equal(["a:1", "b:2"], fromEnvironment.Bootstrap);

        // A source that does not mention the list leaves the earlier one; entries come in index order.
        Assert.Equal(["seed:3540"], Load("""{ "Bootstrap": [ "seed:3540" ] }""", new() { ["NAME"] = "x" }).Bootstrap);
        var eleven = Enumerable.Range(0, 11).ToDictionary(i => $"BOOTSTRAP:{10 - i}", i => (string?)$"h{10 - i}:1");
        Assert.Equal(Enumerable.Range(0, 11).Select(i => $"h{i}:1"), Load("{}", eleven).Bootstrap);
    }

    [Theory]
    [InlineData("--bind 127.0.0.1 is given twice", "127.0.0.1", "::1", "127.0.0.1")]
    [InlineData("--bind :: already listens on every address", "::", "127.0.0.1")]
    [InlineData("--bind 0.0.0.0 already listens on every address", "::1", "0.0.0.0")]
    [InlineData("write it as 127.0.0.1", "::1", "::ffff:127.0.0.1")]
    [InlineData("--bind 'ten' is not an IP address", "127.0.0.1", "ten")]
    [InlineData("--bind is given 9 times; a node binds at most 8", "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8", "127.0.0.9")]
    public void BadBindListsAreUsageErrorsNamingTheFlag(string expected, params string[] binds)
    {
        UsageException error = Assert.Throws<UsageException>(() => new NodeOptions { Bind = [.. binds] }.Validate());
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    private static NodeOptions Load(string json, Dictionary<string, string?>? environment = null)
    {
        IConfigurationRoot configuration = new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json)))
            .AddInMemoryCollection(environment ?? [])
            .Build();
        return NodeOptions.From(configuration);
    }
}
