using System.Net;

namespace Drt.Overlay.Bootstrap;

/// <summary>Why an instance asks for bootstrap endpoints.</summary>
public enum BootstrapPurpose
{
    /// <summary>To join the ring, or to find it again after losing every peer.</summary>
    Join,

    /// <summary>
    /// To look for a part of the ring this instance has lost sight of (split detection): a provider may answer with
    /// other endpoints than for a join.
    /// </summary>
    SplitDetection,
}

/// <summary>
/// Where an instance finds the ring (DRT's bootstrap provider): endpoints of nodes that may already be members, and,
/// for providers that can, a place to publish this instance's own endpoints for others. An instance never calls a
/// provider concurrently.
/// </summary>
/// <remarks>
/// A provider reports trouble by returning what it has (possibly nothing) and saying why in
/// <see cref="BootstrapResult.Problem"/>; it throws only for misuse (null arguments) or cancellation. An instance
/// retries a provider that found nothing with backoff.
/// </remarks>
public interface IBootstrapProvider
{
    /// <summary>Finds at most <paramref name="maxEndpoints"/> endpoints of possible ring members.</summary>
    ValueTask<BootstrapResult> ResolveAsync(BootstrapPurpose purpose, int maxEndpoints, CancellationToken cancellationToken);

    /// <summary>Publishes this instance's own endpoints, where the provider can (a no-op for most).</summary>
    ValueTask RegisterAsync(IReadOnlyList<IPEndPoint> ownEndpoints, CancellationToken cancellationToken);

    /// <summary>Withdraws what <see cref="RegisterAsync"/> published.</summary>
    ValueTask UnregisterAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Hears peers that answered (known-good: leaf-set members), when the instance becomes active and when it closes,
    /// so that a provider that keeps them (a peer cache) can offer them first next time. A no-op for most.
    /// </summary>
    ValueTask ReportPeersAsync(IReadOnlyList<IPEndPoint> peers, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}

/// <summary>What a provider found, and what went wrong if it found less than it might have.</summary>
/// <param name="Endpoints">The endpoints found, best first; possibly none.</param>
/// <param name="Problem">Why some or all were not found (a DNS failure, an unreadable cache file); null when none.</param>
public sealed record BootstrapResult(IReadOnlyList<IPEndPoint> Endpoints, string? Problem = null)
{
    /// <summary>Nothing found, for the given reason.</summary>
    public static BootstrapResult Failed(string problem) => new([], problem);
}
