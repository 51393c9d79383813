using Drt.Overlay.Routing;
using Xunit;

namespace Drt.Overlay.Tests.Routing;

public sealed class RttEstimatorTests
{
    [Fact]
    public void Without_a_sample_the_timeout_is_drts_one_second()
    {
        var rtt = new RttEstimator();
        Assert.False(rtt.HasSample);
        Assert.Equal(RttEstimator.InitialRtoMicros, rtt.RtoMicros);
    }

    [Fact]
    public void The_first_sample_follows_rfc_6298()
    {
        var rtt = new RttEstimator();
        rtt.AddSample(200_000);
        Assert.Equal(200_000, rtt.SmoothedMicros);
        Assert.Equal(100_000, rtt.VariationMicros);
        Assert.Equal(600_000, rtt.RtoMicros); // SRTT + 4·RTTVAR
    }

    [Fact]
    public void Steady_samples_converge_and_the_floor_holds()
    {
        var rtt = new RttEstimator();
        for (int i = 0; i < 200; i++)
        {
            rtt.AddSample(1_000);
        }

        Assert.Equal(1_000, rtt.SmoothedMicros);
        Assert.Equal(RttEstimator.FloorMicros, rtt.RtoMicros);
    }

    [Fact]
    public void Timeouts_double_up_to_the_cap()
    {
        var rtt = new RttEstimator();
        rtt.AddSample(300_000);
        int before = rtt.RtoMicros;
        rtt.OnTimeout();
        Assert.Equal(before * 2, rtt.RtoMicros);
        for (int i = 0; i < 20; i++)
        {
            rtt.OnTimeout();
        }

        Assert.Equal(RttEstimator.CapMicros, rtt.RtoMicros);
    }

    [Fact]
    public void Variation_tracks_jitter()
    {
        var rtt = new RttEstimator();
        for (int i = 0; i < 100; i++)
        {
            rtt.AddSample(i % 2 == 0 ? 100_000 : 300_000);
        }

        Assert.InRange(rtt.SmoothedMicros, 150_000, 250_000);
        Assert.InRange(rtt.VariationMicros, 50_000, 150_000);
        Assert.True(rtt.RtoMicros > rtt.SmoothedMicros + 3 * rtt.VariationMicros);
    }
}
