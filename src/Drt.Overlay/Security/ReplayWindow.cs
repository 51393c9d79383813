using System.Runtime.CompilerServices;

namespace Drt.Overlay.Security;

/// <summary>
/// The anti-replay window of one receive key: a 1,024-bit ring bitmap over datagram counters (RFC 6479), so the
/// newest counter seen and the <see cref="Size"/> below it are tracked exactly; older ones are refused. Counters
/// start at 1 (0 is never valid). Checking and marking are separate: mark only after the tag verified, so a forged
/// datagram cannot move the window.
/// </summary>
internal struct ReplayWindow
{
    /// <summary>Counters below the newest that are still tracked (one 64-bit word of the ring is kept clear for advancing).</summary>
    public const int Size = (WordCount - 1) * 64;

    private const int WordCount = 16;

    private Bits _bits;
    private ulong _highest;

    /// <summary>What <see cref="Check"/> found.</summary>
    public enum Result
    {
        /// <summary>Never seen and inside (or ahead of) the window.</summary>
        Fresh,

        /// <summary>Already accepted.</summary>
        Replayed,

        /// <summary>Too far behind the newest to tell (or 0).</summary>
        TooOld,
    }

    /// <summary>The newest counter accepted (0: none yet).</summary>
    public readonly ulong Highest => _highest;

    /// <summary>Whether <paramref name="counter"/> may be accepted; changes nothing.</summary>
    public readonly Result Check(ulong counter)
    {
        if (counter == 0)
        {
            return Result.TooOld;
        }

        if (counter > _highest)
        {
            return Result.Fresh;
        }

        if (_highest - counter >= Size)
        {
            return Result.TooOld;
        }

        return (_bits[(int)((counter >> 6) % WordCount)] & (1UL << (int)(counter & 63))) != 0 ? Result.Replayed : Result.Fresh;
    }

    /// <summary>Records <paramref name="counter"/> as accepted (after <see cref="Check"/> said Fresh and the tag verified).</summary>
    public void Mark(ulong counter)
    {
        if (counter > _highest)
        {
            // Clear the words the window moves into: they held counters a whole ring ago.
            ulong oldWord = _highest >> 6;
            ulong newWord = counter >> 6;
            ulong advance = newWord - oldWord;
            if (advance >= WordCount)
            {
                for (int i = 0; i < WordCount; i++)
                {
                    _bits[i] = 0;
                }
            }
            else
            {
                for (ulong w = 1; w <= advance; w++)
                {
                    _bits[(int)((oldWord + w) % WordCount)] = 0;
                }
            }

            _highest = counter;
        }

        _bits[(int)((counter >> 6) % WordCount)] |= 1UL << (int)(counter & 63);
    }

    [InlineArray(WordCount)]
    private struct Bits
    {
        private ulong _word;
    }
}
