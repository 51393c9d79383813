using System.Net;
using Drt.Overlay.Bootstrap;
using Drt.Overlay.Security;
using Drt.Overlay.Wire;
using Xunit;
using static Drt.Overlay.Tests.FacadeTestKit;

namespace Drt.Overlay.Tests;

/// <summary>
/// An instance bound to several addresses (127.0.0.1 and ::1): searchers that reach it over IPv4 and over IPv6 find its
/// key with every endpoint in the result, in mode None (the answer's record is built) and Resolve (the record is signed).
/// </summary>
public sealed class DrtBindTests
{
    [Theory]
    [InlineData(DrtSecurityMode.None)]
    [InlineData(DrtSecurityMode.Resolve)]
    public async Task AnInstanceBoundToTwoAddressesIsFoundWithBothEndpointsOverEitherFamily(DrtSecurityMode mode)
    {
        Transport.LoopbackAddresses.SkipUnlessBindable(IPAddress.IPv6Loopback);

        using DrtIdentity ownerIdentity = DrtIdentity.Create();
        using DrtIdentity v4Identity = DrtIdentity.Create();
        using DrtIdentity v6Identity = DrtIdentity.Create();
        DrtSettings Secure(DrtSettings settings, DrtIdentity identity) => mode == DrtSecurityMode.None
            ? settings
            : settings with { SecurityProvider = new DerivedKeySecurityProvider(mode, identity, settings.NetworkId) };

        await using DrtInstance owner = await DrtInstance.OpenAsync(Secure(Settings("two") with { BindAddresses = [IPAddress.Loopback, IPAddress.IPv6Loopback] }, ownerIdentity), Cancel);
        int port = owner.LocalEndpoints[0].Port;
        Assert.Equal([IPAddress.Loopback, IPAddress.IPv6Loopback], owner.LocalEndpoints.Select(e => e.Address));

        // One searcher joins over IPv4; the other, dual-stack, over IPv6 loopback.
        await using DrtInstance overV4 = await DrtInstance.OpenAsync(
            Secure(Settings("over-v4") with { BootstrapProvider = new StaticBootstrapProvider([new IPEndPoint(IPAddress.Loopback, port)]) }, v4Identity), Cancel);
        await using DrtInstance overV6 = await DrtInstance.OpenAsync(
            Secure(Settings("over-v6") with { BindAddress = IPAddress.IPv6Any, BootstrapProvider = new StaticBootstrapProvider([new IPEndPoint(IPAddress.IPv6Loopback, owner.LocalEndpoints[1].Port)]) }, v6Identity), Cancel);

        byte[] data = "two addresses"u8.ToArray();
        Key256 key = mode == DrtSecurityMode.None
            ? (await owner.RegisterKeyAsync(Key256.Parse("7" + new string('1', 63)), data, Cancel)).Key
            : (await owner.RegisterDerivedKeyAsync("two", data, Cancel)).Key;

        foreach (DrtInstance searcher in new[] { overV4, overV6 })
        {
            DrtSearchResult found = await SearchUntilFound(searcher, key, owner);
            Assert.Equal((DrtMatch.Exact, key), (found.Match, found.Key));
            Assert.Equal(data, found.AppData.ToArray());
            Assert.Equal(owner.LocalEndpoints, found.Endpoints);
        }

        // Its own key, found locally, lists the same endpoints; the snapshot lists both.
        DrtSearchResult local = Assert.Single(await ResultsOf(await owner.SearchAsync(key, new DrtSearchOptions { AllowLocalMatch = true }, Cancel)));
        Assert.Equal(owner.LocalEndpoints, local.Endpoints);
        Assert.Equal(owner.LocalEndpoints, (await owner.GetSnapshotAsync(Cancel)).LocalEndpoints);
    }

    [Fact]
    public async Task ARecordListsNoMoreEndpointsThanMaxAddressesPerRegistration()
    {
        Transport.LoopbackAddresses.SkipUnlessBindable(IPAddress.IPv6Loopback);

        await using DrtInstance owner = await DrtInstance.OpenAsync(
            Settings("one-advertised") with { BindAddresses = [IPAddress.Loopback, IPAddress.IPv6Loopback], MaxAddressesPerRegistration = 1 }, Cancel);
        Key256 key = (await owner.RegisterKeyAsync(Key256.Parse("6" + new string('2', 63)), new byte[] { 1 }, Cancel)).Key;

        DrtSearchResult local = Assert.Single(await ResultsOf(await owner.SearchAsync(key, new DrtSearchOptions { AllowLocalMatch = true }, Cancel)));
        Assert.Equal([owner.LocalEndpoints[0]], local.Endpoints);
        Assert.Equal(2, owner.LocalEndpoints.Count);
    }

    [Fact]
    public void BindAddressIsTheFirstOfBindAddressesAndTheOneSetLastWins()
    {
        DrtSettings two = new DrtSettings() with { BindAddresses = [IPAddress.Loopback, IPAddress.IPv6Loopback] };
        Assert.Equal(IPAddress.Loopback, two.BindAddress);
        Assert.Equal([IPAddress.IPv6Loopback], (two with { BindAddress = IPAddress.IPv6Loopback }).BindAddresses);
        Assert.Equal([IPAddress.IPv6Any], new DrtSettings().BindAddresses);
    }

}
