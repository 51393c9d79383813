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
    [InlineData("MaxAdvertisedEndpoints")]
    public void ASettingOutOfRangeIsRefusedByName(string name)
    {
        EngineOptions options = name switch
        {
            "LeafSetSide" => new EngineOptions { LeafSetSide = 17 },
            "Alpha" => new EngineOptions { Alpha = 0 },
            "MaxAttempts" => new EngineOptions { MaxAttempts = 9 },
            "MaintenancePeriod" => new EngineOptions { MaintenancePeriod = TimeSpan.FromMilliseconds(99) },
            "MaxSearches" => new EngineOptions { MaxSearches = 65_536 },
            "MaxAdvertisedEndpoints" => new EngineOptions { MaxAdvertisedEndpoints = 21 },
            _ => new EngineOptions { MaxRoutesInFlight = 0 },
        };

        AssertRefused(options, name);
    }

    /// <summary>
    /// The admission and proof-budget settings: each refused outside its range (rates and bursts 1..1,000,000; rate
    /// table 4..2^20; pair keys 16..65,536).
    /// </summary>
    [Theory]
    [InlineData("SourceRate", 0)]
    [InlineData("SourceRate", 1_000_001)]
    [InlineData("SourceBurst", 0)]
    [InlineData("SourceBurst", 1_000_001)]
    [InlineData("GlobalRate", 0)]
    [InlineData("GlobalRate", 1_000_001)]
    [InlineData("GlobalBurst", 0)]
    [InlineData("GlobalBurst", 1_000_001)]
    [InlineData("HandshakeRate", 0)]
    [InlineData("HandshakeRate", 1_000_001)]
    [InlineData("HandshakeBurst", 0)]
    [InlineData("HandshakeBurst", 1_000_001)]
    [InlineData("MaxRateLimitedSources", 3)]
    [InlineData("MaxRateLimitedSources", (1 << 20) + 1)]
    [InlineData("PairAgreementRate", 0)]
    [InlineData("PairAgreementBurst", 1_000_001)]
    [InlineData("ProofSignatureRate", 1_000_001)]
    [InlineData("ProofSignatureBurst", 0)]
    [InlineData("PairKeyCapacity", 15)]
    [InlineData("PairKeyCapacity", 65_537)]
    public void AnAdmissionSettingOutOfRangeIsRefusedByName(string name, int value)
    {
        EngineOptions options = name switch
        {
            "SourceRate" => new EngineOptions { SourceRate = value },
            "SourceBurst" => new EngineOptions { SourceBurst = value },
            "GlobalRate" => new EngineOptions { GlobalRate = value },
            "GlobalBurst" => new EngineOptions { GlobalBurst = value },
            "HandshakeRate" => new EngineOptions { HandshakeRate = value },
            "HandshakeBurst" => new EngineOptions { HandshakeBurst = value },
            "PairAgreementRate" => new EngineOptions { PairAgreementRate = value },
            "PairAgreementBurst" => new EngineOptions { PairAgreementBurst = value },
            "ProofSignatureRate" => new EngineOptions { ProofSignatureRate = value },
            "ProofSignatureBurst" => new EngineOptions { ProofSignatureBurst = value },
            "PairKeyCapacity" => new EngineOptions { PairKeyCapacity = value },
            _ => new EngineOptions { MaxRateLimitedSources = value },
        };

        AssertRefused(options, name);
    }

    [Fact]
    public void TheDefaultsAndTheLimitsThemselvesAreAccepted()
    {
        new EngineOptions().Validate();
        new EngineOptions { LeafSetSide = 5, MaxSearches = 65_535, MaxRoutesInFlight = 1, MaintenancePeriod = TimeSpan.FromMilliseconds(100), MaxAdvertisedEndpoints = 1 }.Validate();
        new EngineOptions { MaxAdvertisedEndpoints = 20 }.Validate();
        new EngineOptions { PairKeyCapacity = 16, PairAgreementRate = 1, PairAgreementBurst = 1, ProofSignatureRate = 1, ProofSignatureBurst = 1 }.Validate();
        new EngineOptions { PairKeyCapacity = 65_536, PairAgreementRate = 1_000_000, PairAgreementBurst = 1_000_000, ProofSignatureRate = 1_000_000, ProofSignatureBurst = 1_000_000 }.Validate();

        // The admission limits, lowest and highest; the privileged-port switch is a bool, so both of its values.
        new EngineOptions { SourceRate = 1, SourceBurst = 1, GlobalRate = 1, GlobalBurst = 1, HandshakeRate = 1, HandshakeBurst = 1, MaxRateLimitedSources = 4 }.Validate();
        new EngineOptions
        {
            SourceRate = 1_000_000,
            SourceBurst = 1_000_000,
            GlobalRate = 1_000_000,
            GlobalBurst = 1_000_000,
            HandshakeRate = 1_000_000,
            HandshakeBurst = 1_000_000,
            MaxRateLimitedSources = 1 << 20,
            AllowPrivilegedSourcePorts = true,
        }.Validate();
    }

    private static void AssertRefused(EngineOptions options, string name)
    {
        DrtException error = Assert.Throws<DrtException>(options.Validate);
        Assert.Equal(DrtError.InvalidSettings, error.Error);
        Assert.Contains(name, error.Message);
    }
}
