using System.Security.Cryptography;

namespace Drt.Overlay.Simulation;

/// <summary>
/// A <see cref="RandomNumberGenerator"/> that replays: bytes from a seeded <see cref="Random"/>. For the simulator
/// only, where nonces must be reproducible so that a run replays byte for byte. Never use it in a real node: its
/// output is predictable by design.
/// </summary>
public sealed class SeededRandomNumberGenerator(int seed) : RandomNumberGenerator
{
    private readonly Random _random = new(seed);

    /// <inheritdoc/>
    public override void GetBytes(byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        _random.NextBytes(data);
    }

    /// <inheritdoc/>
    public override void GetBytes(Span<byte> data) => _random.NextBytes(data);

    /// <inheritdoc/>
    public override void GetBytes(byte[] data, int offset, int count) => GetBytes(data.AsSpan(offset, count));

    /// <inheritdoc/>
    public override void GetNonZeroBytes(byte[] data) => GetNonZeroBytes(data.AsSpan());

    /// <inheritdoc/>
    public override void GetNonZeroBytes(Span<byte> data)
    {
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (byte)_random.Next(1, 256);
        }
    }
}
