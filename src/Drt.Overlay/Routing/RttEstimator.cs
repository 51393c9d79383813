namespace Drt.Overlay.Routing;

/// <summary>
/// Round-trip-time estimate of one peer and the retransmission timeout derived from it, as TCP does
/// (RFC 6298): RTO = SRTT + max(granularity, 4·RTTVAR), clamped to [floor, cap], doubled on each timeout.
/// </summary>
/// <remarks>
/// Bamboo measured that a fixed multi-second timeout more than doubles lookup latency under churn while a
/// per-neighbour TCP-style RTO does not; DRT's fixed 1 s retransmit is the fallback only while a peer has
/// no sample yet. Times are whole microseconds in an <see cref="int"/> (max ≈ 35 min) to keep the per-peer
/// record small at 100,000 simulated nodes.
/// </remarks>
internal struct RttEstimator
{
    /// <summary>Lowest timeout ever used: below this, scheduler jitter would cause spurious retransmits.</summary>
    public const int FloorMicros = 50_000;

    /// <summary>Highest timeout ever used: a peer slower than this is treated as gone.</summary>
    public const int CapMicros = 4_000_000;

    /// <summary>Timeout for a peer with no sample yet (DRT's retransmit interval).</summary>
    public const int InitialRtoMicros = 1_000_000;

    private const int GranularityMicros = 1_000;

    private int _srtt;
    private int _rttVar;
    private int _rto;

    /// <summary>True once at least one sample was taken.</summary>
    public readonly bool HasSample => _srtt > 0;

    /// <summary>Smoothed round-trip time in microseconds; 0 without a sample.</summary>
    public readonly int SmoothedMicros => _srtt;

    /// <summary>Round-trip-time variation in microseconds; 0 without a sample.</summary>
    public readonly int VariationMicros => _rttVar;

    /// <summary>The timeout to wait for this peer's answer before retrying, in microseconds.</summary>
    public readonly int RtoMicros => _rto == 0 ? InitialRtoMicros : _rto;

    /// <summary>Takes one round-trip sample (an answer to a request that was not retransmitted: Karn's rule).</summary>
    public void AddSample(int rttMicros)
    {
        int r = Math.Max(1, rttMicros);
        if (_srtt == 0)
        {
            _srtt = r;
            _rttVar = r / 2;
        }
        else
        {
            // RTTVAR ← ¾·RTTVAR + ¼·|SRTT − R|; SRTT ← ⅞·SRTT + ⅛·R (in long to avoid overflow).
            long deviation = Math.Abs((long)_srtt - r);
            _rttVar = (int)((3L * _rttVar + deviation) / 4);
            _srtt = (int)((7L * _srtt + r) / 8);
            _srtt = Math.Max(1, _srtt);
        }

        long rto = (long)_srtt + Math.Max(GranularityMicros, 4L * _rttVar);
        _rto = (int)Math.Clamp(rto, FloorMicros, CapMicros);
    }

    /// <summary>A request timed out: back off by doubling the timeout, up to the cap.</summary>
    public void OnTimeout() => _rto = (int)Math.Min((long)RtoMicros * 2, CapMicros);
}
