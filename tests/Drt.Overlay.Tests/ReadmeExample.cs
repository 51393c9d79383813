// The usage example in README.md and in the package's PACKAGE.md ("## Usage"), compiled here and run by
// ReadmeExampleTests. The regions between the markers, each without its common indentation and joined by a blank
// line, are exactly the documents' code block: a whole top-level program a user can paste. It has a namespace of its
// own so that its using directives are exactly the ones a user's program needs (inside Drt.Overlay.Tests,
// "using Drt.Overlay;" would be redundant and fail the build).
// begin-readme-example
using System.Net;
using System.Text;
using Drt.Overlay;
using Drt.Overlay.Bootstrap;
using Drt.Overlay.Wire;
// end-readme-example

namespace UsageExample;

/// <summary>The README's example as a method, so that a test can run it.</summary>
internal static class ReadmeExample
{
    public static async Task RunAsync()
    {
        // begin-readme-example
        // A ring of two on loopback: the first instance starts it, the second bootstraps from the first.
        var loopback = new DrtSettings { BindAddress = IPAddress.Loopback };
        await using DrtInstance first = await DrtInstance.OpenAsync(loopback with { InstanceName = "first" });
        await using DrtInstance second = await DrtInstance.OpenAsync(loopback with
        {
            InstanceName = "second",
            BootstrapProvider = new StaticBootstrapProvider(first.LocalEndpoints),
        });

        // The first registers a key with its data; the second searches for it until the ring has formed.
        Key256 key = Key256.RandomSecure();
        await using DrtRegistration registration = await first.RegisterKeyAsync(key, Encoding.UTF8.GetBytes("hello from first"));
        for (int attempt = 0; attempt < 20; attempt++)
        {
            await foreach (DrtSearchResult result in await second.SearchAsync(key))
            {
                Console.WriteLine($"{result.Key.ToShortString()} is at {result.Endpoints[0]}: {Encoding.UTF8.GetString(result.AppData.Span)}");
                return;
            }

            await Task.Delay(TimeSpan.FromSeconds(1));
        }

        throw new TimeoutException($"{key} was not found.");
        // end-readme-example
    }
}
