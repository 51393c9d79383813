using Drt.Overlay.Security;
using Drt.Overlay.Wire;
using Xunit;

namespace Drt.Overlay.Simulation.Tests.Facade;

/// <summary>
/// Membership modes through the facade (<see cref="DrtSettings.SecurityProvider"/>) on the simulated network in virtual
/// time: members find each other's keys and data; an instance whose credential expires reports its keys unresolvable.
/// </summary>
public sealed class SecureInstanceSimulationTests
{
    [Theory]
    [InlineData(DrtSecurityMode.Membership, 71)]
    [InlineData(DrtSecurityMode.Confidential, 72)]
    public async Task MembersFindEachOthersKeysAndAnExpiringMemberReportsItsKeysUnresolvable(DrtSecurityMode mode, int seed)
    {
        uint networkId = new DrtSettings().NetworkId;
        var random = new Random(seed);
        var identities = new List<DrtIdentity>();
        DrtIdentity Identity()
        {
            byte[] privateKey = new byte[DrtIdentity.PrivateKeyLength];
            random.NextBytes(privateKey);
            identities.Add(DrtIdentity.FromPrivateKey(privateKey));
            return identities[^1];
        }

        DrtIdentity root = Identity();
        const int Mortal = 3;
        var providers = new List<ISecurityProvider>();
        await using var sim = new SimulatedInstances(seed)
        {
            Configure = (index, settings) =>
            {
                DrtIdentity identity = Identity();
                DateTimeOffset now = settings.TimeProvider.GetUtcNow();
                DateTimeOffset notAfter = index == Mortal ? now.AddMinutes(3) : now.AddDays(1);
                DrtCredential credential = DrtCredential.Issue(root, identity.PublicKey.Span, now.AddDays(-1), notAfter, $"member {index}", networkId);
                var provider = new DerivedKeySecurityProvider(mode, identity, networkId, root.PublicKey, credential);
                providers.Add(provider);
                return settings with { SecurityProvider = provider };
            },
        };

        try
        {
            Dictionary<Key256, DrtInstance> owners = sim.OpenRing(8, keysEach: 1, random);
            Assert.True(sim.RunUntil(() => sim.Instances.TrueForAll(i => i.Status == DrtStatus.Active), TimeSpan.FromMinutes(1)), $"seed {seed}: not every member became Active");
            sim.RunFor(5 * SimulatedInstances.Period);
            foreach ((Key256 key, DrtInstance owner) in owners)
            {
                DrtInstance from = sim.Instances.Find(i => i != owner)!;
                DrtSearchResult found = Assert.Single(sim.Search(from, key));
                Assert.Equal(SimulatedInstances.DataOf(key), found.AppData.ToArray());
            }

            DrtInstance mortal = sim.Instances[Mortal];
            var unresolvable = new TaskCompletionSource<DrtRegistrationStateChangedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
            mortal.RegistrationStateChanged += (_, change) => unresolvable.TrySetResult(change);
            Key256 mortalKey = owners.Single(o => o.Value == mortal).Key;

            // Past the expiry in virtual time; the handler runs on the instance's event thread, so wait for it there.
            sim.RunFor(TimeSpan.FromMinutes(3));
            Assert.True(mortal.Engine.SessionCounters.Active == 0, $"seed {seed}: the expired member still holds sessions");
            DrtRegistrationStateChangedEvent change = await unresolvable.Task.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
            Assert.Equal((mortalKey, DrtRegistrationState.Unresolvable), (change.LocalKey, change.State));

            sim.RunFor(10 * SimulatedInstances.Period);
            Assert.Empty(sim.Search(sim.Instances[0], mortalKey));
        }
        finally
        {
            await sim.DisposeAsync();
            foreach (DrtIdentity identity in identities)
            {
                identity.Dispose();
            }
        }
    }
}
