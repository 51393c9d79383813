using Drt.Overlay.Engine;
using Xunit;

namespace Drt.Overlay.Tests.Engine;

public sealed class EngineOptionsTests
{
    [Theory]
    [InlineData("LeafSetSide")]
    [InlineData("Alpha")]
    [InlineData("MaxAttempts")]
    [InlineData("MaintenancePeriod")]
    [InlineData("MaxSearches")]
    [InlineData("MaxRoutesInFlight")]
    public void ASettingOutOfRangeIsRefusedByName(string name)
    {
        EngineOptions options = name switch
        {
            "LeafSetSide" => new EngineOptions { LeafSetSide = 17 },
            "Alpha" => new EngineOptions { Alpha = 0 },
            "MaxAttempts" => new EngineOptions { MaxAttempts = 9 },
            "MaintenancePeriod" => new EngineOptions { MaintenancePeriod = TimeSpan.FromMilliseconds(99) },
            "MaxSearches" => new EngineOptions { MaxSearches = 65_536 },
            _ => new EngineOptions { MaxRoutesInFlight = 0 },
        };

        DrtException error = Assert.Throws<DrtException>(options.Validate);
        Assert.Equal(DrtError.InvalidSettings, error.Error);
        Assert.Contains(name, error.Message);
    }

    [Fact]
    public void TheDefaultsAndTheLimitsThemselvesAreAccepted()
    {
        new EngineOptions().Validate();
        new EngineOptions { LeafSetSide = 5, MaxSearches = 65_535, MaxRoutesInFlight = 1, MaintenancePeriod = TimeSpan.FromMilliseconds(100) }.Validate();
    }
}
