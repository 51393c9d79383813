using System.Globalization;
using Drt.Node.Cli;

namespace Drt.Node;

/// <summary>The drt executable: <c>drt node</c> runs a peer; the other commands talk to one or run briefly themselves.</summary>
internal static class Program
{
    private static Task<int> Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        return DrtCli.RunAsync(args, Console.Out, Console.Error);
    }
}
