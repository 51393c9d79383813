using System.Net;
using System.Net.Sockets;
using Drt.Overlay.Bootstrap;
using Xunit;

namespace Drt.Overlay.Tests.Bootstrap;

public sealed class BootstrapProviderTests
{
    private static readonly IPEndPoint s_a = IPEndPoint.Parse("127.0.0.1:4001");
    private static readonly IPEndPoint s_b = IPEndPoint.Parse("[::1]:4002");
    private static readonly IPEndPoint s_c = IPEndPoint.Parse("127.0.0.3:4003");

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AStaticProviderAnswersItsEndpointsInOrderUpToTheMaximum()
    {
        var provider = new StaticBootstrapProvider([s_a, s_b, s_c]);

        BootstrapResult all = await provider.ResolveAsync(BootstrapPurpose.Join, 10, Cancel);
        BootstrapResult two = await provider.ResolveAsync(BootstrapPurpose.SplitDetection, 2, Cancel);

        Assert.Equal([s_a, s_b, s_c], all.Endpoints);
        Assert.Equal([s_a, s_b], two.Endpoints);
        Assert.Null(all.Problem);
        Assert.Equal(DrtError.InvalidArgument, Assert.Throws<DrtException>(() => new StaticBootstrapProvider([s_a, null!])).Error);
    }

    [Fact]
    public async Task DnsGivesEveryAAndAaaaRecordIpv6FirstWithThePort()
    {
        var provider = new DnsBootstrapProvider("drt.example", 3540, (_, _) => Task.FromResult(new[] { IPAddress.Parse("192.0.2.7"), IPAddress.Parse("2001:db8::7"), IPAddress.Parse("192.0.2.7") }));

        BootstrapResult result = await provider.ResolveAsync(BootstrapPurpose.Join, 10, Cancel);

        Assert.Equal([IPEndPoint.Parse("[2001:db8::7]:3540"), IPEndPoint.Parse("192.0.2.7:3540")], result.Endpoints);
        Assert.Null(result.Problem);
    }

    [Fact]
    public async Task ARealDnsLookupOfLocalhostFindsTheLoopbackAddress()
    {
        var provider = new DnsBootstrapProvider("localhost", 3540);

        BootstrapResult result = await provider.ResolveAsync(BootstrapPurpose.Join, 10, Cancel);

        Assert.Contains(result.Endpoints, e => IPAddress.IsLoopback(e.Address) && e.Port == 3540);
    }

    [Fact]
    public async Task AFailedLookupIsReportedNotThrownAndBadArgumentsAreRefused()
    {
        var failing = new DnsBootstrapProvider("nowhere.invalid", 3540, (_, _) => Task.FromException<IPAddress[]>(new SocketException((int)SocketError.HostNotFound)));
        var empty = new DnsBootstrapProvider("empty.example", 3540, (_, _) => Task.FromResult(Array.Empty<IPAddress>()));

        BootstrapResult failed = await failing.ResolveAsync(BootstrapPurpose.Join, 10, Cancel);
        BootstrapResult none = await empty.ResolveAsync(BootstrapPurpose.Join, 10, Cancel);

        Assert.Empty(failed.Endpoints);
        Assert.Contains("nowhere.invalid", failed.Problem);
        Assert.Contains("HostNotFound", failed.Problem);
        Assert.Contains("no A or AAAA record", none.Problem);
        Assert.Equal(DrtError.InvalidArgument, Assert.Throws<DrtException>(() => new DnsBootstrapProvider(" ", 3540)).Error);
        Assert.Equal(DrtError.InvalidArgument, Assert.Throws<DrtException>(() => new DnsBootstrapProvider("a.example", 0)).Error);
    }

    [Fact]
    public async Task ThePeerCacheKeepsTheMostRecentPeersAcrossARestart()
    {
        string path = Path.Combine(Path.GetTempPath(), $"drt-peers-{Guid.NewGuid():N}.txt");
        try
        {
            var cache = new PeerCacheBootstrapProvider(path, capacity: 2);
            Assert.Empty((await cache.ResolveAsync(BootstrapPurpose.Join, 10, Cancel)).Endpoints); // no file yet: empty, no problem
            cache.Remember([s_a]);
            cache.Remember([s_b, s_c]); // most recent first: b, c; a falls out
            await cache.SaveAsync(Cancel);

            var restarted = new PeerCacheBootstrapProvider(path, capacity: 2);
            BootstrapResult result = await restarted.ResolveAsync(BootstrapPurpose.Join, 10, Cancel);

            Assert.Equal([s_b, s_c], result.Endpoints);
            Assert.Null(result.Problem);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task ADamagedCacheFileLosesOnlyItsDamagedLinesAndSaysSo()
    {
        string path = Path.Combine(Path.GetTempPath(), $"drt-peers-{Guid.NewGuid():N}.txt");
        try
        {
            await File.WriteAllTextAsync(path, "127.0.0.1:4001\nnot an endpoint\n\u0000\u0001garbage\n[::1]:4002\n127.0.0.9\n", Cancel);
            var cache = new PeerCacheBootstrapProvider(path);

            BootstrapResult result = await cache.ResolveAsync(BootstrapPurpose.Join, 10, Cancel);

            Assert.Equal([s_a, s_b], result.Endpoints);
            Assert.Contains("3 damaged line(s)", result.Problem);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task ACompositeAnswersWithTheFirstProviderThatFindsAnythingAndCollectsTheProblems()
    {
        var failing = new DnsBootstrapProvider("down.example", 3540, (_, _) => Task.FromException<IPAddress[]>(new SocketException((int)SocketError.TryAgain)));
        var composite = new CompositeBootstrapProvider(failing, new StaticBootstrapProvider([s_c]), new StaticBootstrapProvider([s_a]));
        var allFailing = new CompositeBootstrapProvider(failing);

        BootstrapResult result = await composite.ResolveAsync(BootstrapPurpose.Join, 10, Cancel);
        BootstrapResult none = await allFailing.ResolveAsync(BootstrapPurpose.Join, 10, Cancel);

        Assert.Equal([s_c], result.Endpoints);
        Assert.Contains("down.example", result.Problem);
        Assert.Empty(none.Endpoints);
        Assert.Contains("TryAgain", none.Problem);
        Assert.Equal(DrtError.InvalidArgument, Assert.Throws<DrtException>(() => new CompositeBootstrapProvider()).Error);
    }
}
