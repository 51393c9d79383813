using System.Net;
using Drt.Overlay.Bootstrap;
using Drt.Overlay.Wire;
using Xunit;
using static Drt.Overlay.Tests.FacadeTestKit;

namespace Drt.Overlay.Tests;

/// <summary>
/// The facade over real UDP on loopback: open, register, search, update, unregister, close, and the errors DRT gives
/// for each misuse. Waits are bounded polls; nothing asserts a duration.
/// </summary>
public sealed class DrtInstanceTests
{
    [Fact]
    public async Task TwoInstancesFindEachOthersKeysSeeUpdatesAndLoseUnregisteredOnes()
    {
        var random = new Random(71);
        await using DrtInstance first = await DrtInstance.OpenAsync(Settings("first"), Cancel);
        await using DrtInstance second = await DrtInstance.OpenAsync(Settings("second") with { BootstrapProvider = new StaticBootstrapProvider([Loopback(first)]) }, Cancel);

        // Registered while the second is still alone: published once it has joined.
        Key256 mine = Key256.Random(random);
        Key256 theirs = Key256.Random(random);
        DrtRegistration registration = await second.RegisterKeyAsync(mine, "hello"u8.ToArray(), Cancel);
        await first.RegisterKeyAsync(theirs, "there"u8.ToArray(), Cancel);

        DrtSearchResult found = await SearchUntilFound(first, mine, second);
        Assert.Equal(DrtMatch.Exact, found.Match);
        Assert.Equal("hello"u8.ToArray(), found.AppData.ToArray());
        Assert.Equal(Loopback(second).Port, found.Endpoints[0].Port);
        Assert.Equal(DrtStatus.Active, first.Status);
        Assert.Equal(DrtStatus.Active, second.Status);

        // Nearest in the whole ring, remote only: the other instance's key whichever target.
        Key256 target = Key256.Random(random);
        DrtSearchResult near = Assert.Single(await ResultsOf(await second.SearchAsync(target, new DrtSearchOptions { MinKey = Key256.Zero, MaxKey = Key256.MaxValue }, Cancel)));
        Assert.Equal(theirs, near.Key);
        Assert.Equal(near.Key == target ? DrtMatch.Exact : DrtMatch.Near, near.Match);

        await registration.UpdateAsync("changed"u8.ToArray(), Cancel);
        Assert.Equal("changed"u8.ToArray(), (await SearchUntilFound(first, mine, second)).AppData.ToArray());

        await registration.UnregisterAsync();
        await registration.UnregisterAsync(); // idempotent
        Assert.Empty(await ResultsOf(await first.SearchAsync(mine, null, Cancel)));
        Assert.Equal(DrtError.Closed, (await Assert.ThrowsAsync<DrtException>(() => registration.UpdateAsync("x"u8.ToArray(), Cancel))).Error);
    }

    [Fact]
    public async Task ASearchThatRunsOutOfTimeEndsWithWhatItHasAndSaysSoAndACancelledOneStops()
    {
        var random = new Random(72);
        DrtInstance gone = await DrtInstance.OpenAsync(Settings("gone"), Cancel);
        await using DrtInstance left = await DrtInstance.OpenAsync(Settings("left") with { BootstrapProvider = new StaticBootstrapProvider([Loopback(gone)]) }, Cancel);
        Key256 key = Key256.Random(random);
        await gone.RegisterKeyAsync(key, new byte[] { 7 }, Cancel);
        await SearchUntilFound(left, key, gone);

        // The only other node stops answering: the search waits on it until its time is up.
        await gone.CloseAsync();
        DrtSearch search = await left.SearchAsync(Key256.Random(random), new DrtSearchOptions { MinKey = Key256.Zero, MaxKey = Key256.MaxValue, Timeout = TimeSpan.FromMilliseconds(200) }, Cancel);
        Assert.Empty(await ResultsOf(search));
        Assert.True(search.TimedOut);

        using var cancel = new CancellationTokenSource();
        DrtSearch cancelled = await left.SearchAsync(Key256.Random(random), new DrtSearchOptions { MinKey = Key256.Zero, MaxKey = Key256.MaxValue }, Cancel);
        cancel.CancelAfter(100);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (DrtSearchResult _ in cancelled.WithCancellation(cancel.Token))
            {
            }
        });
        Assert.False(cancelled.TimedOut);
    }

    [Fact]
    public async Task AfterCloseEveryCallFailsWithClosedAndCloseIsIdempotent()
    {
        DrtInstance instance = await DrtInstance.OpenAsync(Settings("closing"), Cancel);
        DrtRegistration registration = await instance.RegisterKeyAsync(Key256.One, new byte[] { 1 }, Cancel);

        await instance.CloseAsync();
        await instance.CloseAsync();
        await registration.DisposeAsync(); // the close unregistered it already: nothing to do, no error

        Assert.Equal(DrtError.Closed, (await Assert.ThrowsAsync<DrtException>(() => instance.RegisterKeyAsync(Key256.One, new byte[] { 1 }, Cancel))).Error);
        Assert.Equal(DrtError.Closed, (await Assert.ThrowsAsync<DrtException>(() => instance.SearchAsync(Key256.One, null, Cancel))).Error);
    }

    [Fact]
    public async Task DuplicatesBadDataAndBadSearchesAreRefusedWithTheirErrors()
    {
        await using DrtInstance instance = await DrtInstance.OpenAsync(Settings("errors"), Cancel);
        Key256 key = Key256.Parse(new string('5', 64));
        await instance.RegisterKeyAsync(key, new byte[] { 1 }, Cancel);

        Assert.Equal(DrtError.DuplicateKey, (await Assert.ThrowsAsync<DrtException>(() => instance.RegisterKeyAsync(key, new byte[] { 1 }, Cancel))).Error);
        Assert.Equal(DrtError.PayloadTooLarge, (await Assert.ThrowsAsync<DrtException>(() => instance.RegisterKeyAsync(Key256.One, new byte[5_121], Cancel))).Error);
        Assert.Equal(DrtError.PayloadTooLarge, (await Assert.ThrowsAsync<DrtException>(() => instance.RegisterKeyAsync(Key256.One, ReadOnlyMemory<byte>.Empty, Cancel))).Error);

        // Cancelled before the engine took it: nothing registered, so the key can be registered afterwards.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => instance.RegisterKeyAsync(Key256.One, new byte[] { 1 }, new CancellationToken(canceled: true)));
        await instance.RegisterKeyAsync(Key256.One, new byte[] { 1 }, Cancel);

        Key256 low = Key256.Parse(new string('1', 64));
        Key256 high = Key256.Parse(new string('3', 64));
        await AssertSearchRefused(instance, key, new DrtSearchOptions { MinKey = low, MaxKey = high }, DrtError.InvalidSearchRange);
        await AssertSearchRefused(instance, key, new DrtSearchOptions { MinKey = high, MaxKey = low }, DrtError.InvalidSearchRange);
        await AssertSearchRefused(instance, low, new DrtSearchOptions { MinKey = low, MaxKey = high, AnyMatchInRange = true, MaxResults = 2 }, DrtError.InvalidMaxEndpoints);
        await AssertSearchRefused(instance, low, new DrtSearchOptions { MinKey = low, MaxKey = high, MaxResults = 0 }, DrtError.InvalidMaxEndpoints);

        // Alone, remote only: a search that finds nothing ends with no results, not an error; its own key with local matches.
        Assert.Empty(await ResultsOf(await instance.SearchAsync(key, null, Cancel)));
        Assert.Equal(key, Assert.Single(await ResultsOf(await instance.SearchAsync(key, new DrtSearchOptions { AllowLocalMatch = true }, Cancel))).Key);
    }

    [Fact]
    public async Task SettingsOutOfRangeAreRefusedNamingWhatIsAllowed()
    {
        await AssertOpenRefused(Settings("x") with { Port = 70_000 }, DrtError.InvalidSettings, "0..65535");
        await AssertOpenRefused(Settings(new string('n', 129)), DrtError.InvalidInstanceName, "1..128");
        await AssertOpenRefused(Settings("x") with { KeySizeBytes = 16 }, DrtError.InvalidKeySize, "32");
        await AssertOpenRefused(Settings("x") with { MaxAddressesPerRegistration = 21 }, DrtError.InvalidMaxAddresses, "1..20");
        await AssertOpenRefused(Settings("x") with { LeafSetSide = 4 }, DrtError.InvalidSettings, "5..16");
        await AssertOpenRefused(Settings("x") with { BindAddresses = [] }, DrtError.InvalidSettings, "BindAddresses has 0 addresses; give 1..8");
        await AssertOpenRefused(Settings("x") with { BindAddresses = [IPAddress.Loopback, IPAddress.IPv6Loopback, IPAddress.Loopback] }, DrtError.InvalidSettings, "BindAddresses lists 127.0.0.1 twice");
        await AssertOpenRefused(Settings("x") with { BindAddresses = [IPAddress.IPv6Any, IPAddress.Loopback] }, DrtError.InvalidSettings, "BindAddresses[0] is ::, which already receives on every local address");
        await AssertOpenRefused(Settings("x") with { BindAddress = null! }, DrtError.InvalidSettings, "BindAddresses[0] is null");

        await using DrtInstance taken = await DrtInstance.OpenAsync(Settings("taken"), Cancel);
        await AssertOpenRefused(Settings("x") with { Port = Loopback(taken).Port }, DrtError.TransportFailed, "another port");
    }

    private static async Task AssertSearchRefused(DrtInstance instance, Key256 target, DrtSearchOptions options, DrtError expected)
    {
        DrtException error = await Assert.ThrowsAsync<DrtException>(() => instance.SearchAsync(target, options, Cancel));
        Assert.Equal(expected, error.Error);
    }

    private static async Task AssertOpenRefused(DrtSettings settings, DrtError expected, string allowed)
    {
        DrtException error = await Assert.ThrowsAsync<DrtException>(() => DrtInstance.OpenAsync(settings, Cancel));
        Assert.Equal(expected, error.Error);
        Assert.Contains(allowed, error.Message);
    }
}
