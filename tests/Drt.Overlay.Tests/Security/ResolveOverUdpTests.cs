using Drt.Overlay.Bootstrap;
using Drt.Overlay.Security;
using Drt.Overlay.Wire;
using Xunit;
using static Drt.Overlay.Tests.FacadeTestKit;

namespace Drt.Overlay.Tests.Security;

/// <summary>Security mode Resolve over real UDP on loopback: derived keys, owner-signed answers, signed unregistration.</summary>
public sealed class ResolveOverUdpTests
{
    [Fact]
    public async Task ThreeResolveInstancesFindADerivedKeyWithItsDataAndNoLongerAfterItsOwnerUnregisters()
    {
        using DrtIdentity first = DrtIdentity.Create();
        using DrtIdentity second = DrtIdentity.Create();
        using DrtIdentity third = DrtIdentity.Create();
        DrtSettings Resolve(string name, DrtIdentity identity) => Settings(name) with
        {
            SecurityProvider = new DerivedKeySecurityProvider(DrtSecurityMode.Resolve, identity, Settings(name).NetworkId),
        };

        await using DrtInstance a = await DrtInstance.OpenAsync(Resolve("resolve-a", first), Cancel);
        await using DrtInstance b = await DrtInstance.OpenAsync(Resolve("resolve-b", second) with { BootstrapProvider = new StaticBootstrapProvider([Loopback(a)]) }, Cancel);
        await using DrtInstance c = await DrtInstance.OpenAsync(Resolve("resolve-c", third) with { BootstrapProvider = new StaticBootstrapProvider([Loopback(a)]) }, Cancel);
        await using DrtRegistration ra = await a.RegisterDerivedKeyAsync("a", "data-a"u8.ToArray(), Cancel);
        DrtRegistration rb = await b.RegisterDerivedKeyAsync("b", "data-b"u8.ToArray(), Cancel);
        await using DrtRegistration rc = await c.RegisterDerivedKeyAsync("c", "data-c"u8.ToArray(), Cancel);

        DrtSearchResult found = await SearchUntilFound(c, rb.Key, b);
        Assert.Equal((DrtMatch.Exact, b.DeriveKey("b")), (found.Match, found.Key));
        Assert.Equal("data-b"u8.ToArray(), found.AppData.ToArray());
        Assert.Equal(Loopback(b).Port, found.Endpoints[0].Port);
        Assert.Equal(DrtError.InvalidKey, (await Assert.ThrowsAsync<DrtException>(() => a.RegisterKeyAsync(Key256.Random(new Random(5)), "x"u8.ToArray(), Cancel))).Error);

        await rb.UnregisterAsync();
        bool gone = false;
        for (int attempt = 0; attempt < 40 && !gone; attempt++)
        {
            gone = (await ResultsOf(await c.SearchAsync(rb.Key, new DrtSearchOptions { Timeout = TimeSpan.FromSeconds(5) }, Cancel))).Count == 0;
            if (!gone)
            {
                await Task.Delay(Period, Cancel);
            }
        }

        Assert.True(gone, $"the unregistered key is still found; {Describe(c)}");
        Assert.Equal(0, a.Engine.RecordCounters.RevocationsRejected + c.Engine.RecordCounters.RevocationsRejected);
    }
}
