using System.Numerics;
using Drt.Overlay.Bootstrap;
using Drt.Overlay.Wire;
using Xunit;
using static Drt.Overlay.Tests.FacadeTestKit;

namespace Drt.Overlay.Tests;

/// <summary>
/// Six instances on loopback UDP, four keys each, all in the second quarter of the ring (so that numeric and ring
/// distance agree inside the ranges searched).
/// </summary>
public sealed class SearchMesh : IAsyncLifetime
{
    public const int Instances = 6;
    public const int KeysEach = 4;

    public List<DrtInstance> Nodes { get; } = [];

    /// <summary>Every registered key and the instance that owns it.</summary>
    public Dictionary<Key256, DrtInstance> Owners { get; } = [];

    public static Key256 Low { get; } = Key256.Parse("4" + new string('0', 63));

    public static Key256 High { get; } = Key256.Parse("7" + new string('f', 63));

    public static Key256 InQuarter(Random random)
    {
        var bytes = new byte[Key256.Size];
        random.NextBytes(bytes);
        bytes[0] = (byte)(0x40 | (bytes[0] & 0x3F));
        return Key256.ReadBigEndian(bytes);
    }

    public async ValueTask InitializeAsync()
    {
        var random = new Random(91);
        Nodes.Add(await DrtInstance.OpenAsync(Settings("mesh0"), Cancel));
        for (int i = 1; i < Instances; i++)
        {
            Nodes.Add(await DrtInstance.OpenAsync(Settings($"mesh{i}") with { BootstrapProvider = new StaticBootstrapProvider([Loopback(Nodes[0])]) }, Cancel));
        }

        foreach (DrtInstance node in Nodes)
        {
            for (int k = 0; k < KeysEach; k++)
            {
                Key256 key = InQuarter(random);
                await node.RegisterKeyAsync(key, DataOf(key), Cancel);
                Owners.Add(key, node);
            }
        }

        // Every key is found from the first instance before a test begins.
        foreach ((Key256 key, DrtInstance owner) in Owners.Where(o => o.Value != Nodes[0]))
        {
            await SearchUntilFound(Nodes[0], key, owner);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (DrtInstance node in Nodes)
        {
            await node.DisposeAsync();
        }
    }

    public static byte[] DataOf(Key256 key) => [.. key.ToString().Take(8).Select(c => (byte)c)];
}

/// <summary>
/// DRT's search semantics through the facade over real UDP: the N nearest in order, nearest within a range, remote only
/// by default, any-in-range, two instances with the same key, iterative hops with continue and stop, path and hops.
/// </summary>
public sealed class DrtSearchTests(SearchMesh mesh) : IClassFixture<SearchMesh>
{
    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(20)]
    public async Task MaxResultsReturnsTheNNearestRemoteKeysInTheRangeNearestFirst(int n)
    {
        var random = new Random(92 + n);
        DrtInstance searcher = mesh.Nodes[1];
        for (int round = 0; round < 3; round++)
        {
            Key256 target = SearchMesh.InQuarter(random);
            DrtSearch search = await searcher.SearchAsync(target, new DrtSearchOptions { MinKey = SearchMesh.Low, MaxKey = SearchMesh.High, MaxResults = n }, Cancel);
            List<DrtSearchResult> results = await ResultsOf(search);

            // Remote only: the searcher's own keys are not candidates.
            Key256[] expected = [.. mesh.Owners.Where(o => o.Value != searcher).Select(o => o.Key).OrderBy(k => Distance(k, target)).Take(n)];
            Assert.Equal(expected, results.Select(r => r.Key));
            foreach (DrtSearchResult result in results)
            {
                Assert.Equal(result.Key == target ? DrtMatch.Exact : DrtMatch.Near, result.Match);
                Assert.Equal(SearchMesh.DataOf(result.Key), result.AppData.ToArray());
                Assert.Equal(Loopback(mesh.Owners[result.Key]).Port, result.Endpoints[0].Port);
                Assert.InRange(result.Hops, 1, 8);
            }

            Assert.Contains(search.Path, hop => hop.Outcome.HasFlag(DrtHopOutcome.Accepted) && hop.RoundTripTime > TimeSpan.Zero);
        }
    }

    [Fact]
    public async Task NearestIsTheNumericallyClosestKeyInsideTheRangeAndAnyMatchInRangeIsExact()
    {
        DrtInstance searcher = mesh.Nodes[2];
        Key256[] remote = [.. mesh.Owners.Where(o => o.Value != searcher).Select(o => o.Key).Order()];

        // A range that leaves out the key just below the target: the nearest inside it is the next one above.
        Key256 below = remote[4];
        Key256 above = remote[5];
        Key256 target = below + Key256.One;
        DrtSearchResult near = Assert.Single(await ResultsOf(await searcher.SearchAsync(target, new DrtSearchOptions { MinKey = target, MaxKey = SearchMesh.High }, Cancel)));
        Assert.Equal((DrtMatch.Near, above), (near.Match, near.Key));

        // Any key in [below, above] will do; whichever it is, it matches exactly.
        DrtSearchResult any = Assert.Single(await ResultsOf(await searcher.SearchAsync(target, new DrtSearchOptions { MinKey = below, MaxKey = above, AnyMatchInRange = true }, Cancel)));
        Assert.Contains(any.Key, new[] { below, above });
        Assert.Equal(DrtMatch.Exact, any.Match);

        // Nothing registered inside the range: no results, not an error.
        Assert.Empty(await ResultsOf(await searcher.SearchAsync(target, new DrtSearchOptions { MinKey = target, MaxKey = above - Key256.One }, Cancel)));
    }

    [Fact]
    public async Task ARangeOfOneKeyIsAnExactSearchAndFindsNothingNearby()
    {
        // DRT: exact search is min = max = target. Registered: found as Exact; one above it: nothing, not the neighbour.
        DrtInstance searcher = mesh.Nodes[1];
        Key256 key = mesh.Owners.First(o => o.Value != searcher).Key;
        DrtSearchResult exact = Assert.Single(await ResultsOf(await searcher.SearchAsync(key, new DrtSearchOptions { MinKey = key, MaxKey = key }, Cancel)));
        Assert.Equal((DrtMatch.Exact, key), (exact.Match, exact.Key));
        Key256 beside = key + Key256.One;
        Assert.Empty(await ResultsOf(await searcher.SearchAsync(beside, new DrtSearchOptions { MinKey = beside, MaxKey = beside }, Cancel)));
        Assert.Empty(await ResultsOf(await searcher.SearchAsync(beside, null, Cancel)));
    }

    [Fact]
    public async Task TheSameKeyInTwoInstancesIsAllowedWithoutSecurityAndASearchFindsOneOfThem()
    {
        Key256 shared = SearchMesh.InQuarter(new Random(93));
        DrtInstance a = mesh.Nodes[3];
        DrtInstance b = mesh.Nodes[4];
        await using DrtRegistration first = await a.RegisterKeyAsync(shared, "a"u8.ToArray(), Cancel);
        await using DrtRegistration second = await b.RegisterKeyAsync(shared, "b"u8.ToArray(), Cancel);

        DrtSearchResult found = await SearchUntilFound(mesh.Nodes[5], shared, a);
        int[] owners = [Loopback(a).Port, Loopback(b).Port];
        Assert.Contains(found.Endpoints[0].Port, owners);
        Assert.Equal(found.Endpoints[0].Port == owners[0] ? "a"u8.ToArray() : "b"u8.ToArray(), found.AppData.ToArray());
    }

    [Fact]
    public async Task AnIterativeSearchReportsEachHopAndWaitsToBeContinuedAndLeavingItStopsIt()
    {
        // A resolve-only instance that knows only what the bootstrap node advertised: most keys are hops away.
        await using DrtInstance searcher = await DrtInstance.OpenAsync(Settings("iterative") with { BootstrapProvider = new StaticBootstrapProvider([Loopback(mesh.Nodes[0])]) }, Cancel);
        for (int i = 0; i < 40 && searcher.Status != DrtStatus.Active; i++)
        {
            await Task.Delay(Period, Cancel);
        }

        int withHops = 0;
        foreach ((Key256 key, DrtInstance owner) in mesh.Owners)
        {
            DrtSearch search = await searcher.SearchAsync(key, new DrtSearchOptions { Iterative = true }, Cancel);
            var intermediate = new List<DrtSearchResult>();
            DrtSearchResult? final = null;
            await foreach (DrtSearchResult result in search.WithCancellation(Cancel))
            {
                if (result.Match == DrtMatch.Intermediate)
                {
                    Assert.True(result.AppData.IsEmpty);
                    Assert.Equal(result.Key, search.Path[^1].Key); // the path so far ends at this hop
                    intermediate.Add(result);
                    await search.ContinueAsync();
                }
                else
                {
                    final = result;
                }
            }

            // Owner known already: asked at once, no hop to show. Otherwise one intermediate per hop, the owner last.
            Assert.Equal((DrtMatch.Exact, key), (final?.Match, final?.Key));
            Assert.Equal(Loopback(owner).Port, final!.Endpoints[0].Port);
            if (intermediate.Count > 0)
            {
                // Each hop one further than the one that referred it; the owner at most one past the last hop.
                withHops++;
                Assert.Equal(1, intermediate[0].Hops);
                Assert.InRange(final.Hops, 1, intermediate.Max(h => h.Hops) + 1);
            }
        }

        Assert.True(withHops > 0, $"every one of {mesh.Owners.Count} keys was known to the searcher from the start; {Describe(searcher)}");

        // Stopped after its first hop: the enumeration ends at once, without a result.
        Key256 far = SearchMesh.InQuarter(new Random(94));
        DrtSearch stopped = await searcher.SearchAsync(far, new DrtSearchOptions { Iterative = true, MinKey = SearchMesh.Low, MaxKey = SearchMesh.High }, Cancel);
        await foreach (DrtSearchResult result in stopped.WithCancellation(Cancel))
        {
            Assert.Equal(DrtMatch.Intermediate, result.Match);
            break;
        }

        Assert.False(stopped.TimedOut);
        DrtSearch plain = await searcher.SearchAsync(far, null, Cancel);
        Assert.Equal(DrtError.InvalidOperation, (await Assert.ThrowsAsync<DrtException>(plain.ContinueAsync)).Error);
    }

    private static BigInteger Distance(Key256 a, Key256 b) => BigInteger.Abs(Numeric(a) - Numeric(b));

    private static BigInteger Numeric(Key256 key) => BigInteger.Parse("0" + key.ToString(), System.Globalization.NumberStyles.HexNumber);
}
