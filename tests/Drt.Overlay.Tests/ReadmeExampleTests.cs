using System.Text;
using UsageExample;
using Xunit;

namespace Drt.Overlay.Tests;

/// <summary>
/// The usage example in README.md and PACKAGE.md runs (over loopback UDP), and the documents show exactly the code in
/// <c>ReadmeExample.cs</c>, so that neither can drift from the API.
/// </summary>
public sealed class ReadmeExampleTests
{
    private const string BeginMarker = "// begin-readme-example";
    private const string EndMarker = "// end-readme-example";

    [Fact]
    public async Task TheExampleFindsTheKeyAcrossTwoInstances()
    {
        // The example throws when its bounded loop does not find the key; no duration is asserted.
        await ReadmeExample.RunAsync().WaitAsync(TimeSpan.FromMinutes(5), TestContext.Current.CancellationToken);
    }

    [Theory]
    [InlineData("README.md")]
    [InlineData("src/Drt.Overlay/PACKAGE.md")]
    public void TheDocumentShowsExactlyTheExample(string document)
    {
        string root = RepositoryRoot();
        string expected = ExampleFromSource(File.ReadAllText(Path.Combine(root, "tests", "Drt.Overlay.Tests", "ReadmeExample.cs")));
        string? shown = UsageBlock(File.ReadAllText(Path.Combine(root, document)));
        Assert.True(shown is not null, $"{document} has no ```csharp block under a \"## Usage\" heading.");
        Assert.Equal(expected, shown);
    }

    /// <summary>The directory holding Drt.Overlay.sln, walking up from the test's output directory.</summary>
    private static string RepositoryRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Drt.Overlay.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Drt.Overlay.sln above {AppContext.BaseDirectory}.");
    }

    /// <summary>The marked regions of the source, each dedented, joined by one blank line.</summary>
    private static string ExampleFromSource(string source)
    {
        var regions = new List<string>();
        List<string>? region = null;
        foreach (string line in Lines(source))
        {
            string trimmed = line.Trim();
            if (trimmed == BeginMarker)
            {
                Assert.Null(region);
                region = [];
            }
            else if (trimmed == EndMarker)
            {
                Assert.NotNull(region);
                regions.Add(Dedent(region));
                region = null;
            }
            else
            {
                region?.Add(line);
            }
        }

        Assert.Null(region);
        Assert.NotEmpty(regions);
        return string.Join("\n\n", regions);
    }

    /// <summary>The first ```csharp block after the "## Usage" heading, up to the next heading; null when there is none.</summary>
    private static string? UsageBlock(string markdown)
    {
        bool inSection = false;
        List<string>? block = null;
        foreach (string line in Lines(markdown))
        {
            if (block is not null)
            {
                if (line.Trim() == "```")
                {
                    return string.Join("\n", block);
                }

                block.Add(line);
            }
            else if (line.StartsWith('#'))
            {
                inSection = line.TrimEnd() == "## Usage";
            }
            else if (inSection && line.Trim() == "```csharp")
            {
                block = [];
            }
        }

        return null;
    }

    private static string[] Lines(string text) => text.ReplaceLineEndings("\n").Split('\n');

    /// <summary>The lines without the indentation they all share (blank lines aside), trailing spaces trimmed.</summary>
    private static string Dedent(List<string> lines)
    {
        int indent = int.MaxValue;
        foreach (string line in lines)
        {
            if (line.Trim().Length > 0)
            {
                indent = Math.Min(indent, line.Length - line.TrimStart().Length);
            }
        }

        var text = new StringBuilder();
        for (int i = 0; i < lines.Count; i++)
        {
            string line = lines[i].TrimEnd();
            text.Append(line.Length >= indent ? line[indent..] : line.TrimStart());
            if (i < lines.Count - 1)
            {
                text.Append('\n');
            }
        }

        return text.ToString();
    }
}
