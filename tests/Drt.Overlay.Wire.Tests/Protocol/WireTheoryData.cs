using Drt.Overlay.Wire.Protocol;
using Xunit;

namespace Drt.Overlay.Wire.Tests.Protocol;

internal static class WireTheoryData
{
    /// <summary>Theory data: the names of <see cref="WireSamples.Types"/> (test parameters must be public types).</summary>
    public static TheoryData<string> TypeData
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (MessageType type in WireSamples.Types)
            {
                data.Add(type.ToString());
            }

            return data;
        }
    }
}
