using SharpFuzz;

namespace Drt.Fuzz;

/// <summary>
/// drt-fuzz: one fuzz target for the whole wire layer (<see cref="WireTarget"/>), run by libFuzzer or AFL through
/// SharpFuzz, or over files (a corpus directory, single inputs, or stdin) for a smoke run and for reproducing a crash.
/// </summary>
/// <remarks>
/// Modes: <c>--libfuzzer</c> (libFuzzer's in-process driver, via SharpFuzz's libfuzzer-dotnet), <c>--afl</c> (AFL's
/// fork server, out of process), <c>--make-corpus DIR</c> (writes seed files), otherwise every path on the command line
/// (files, or directories read one level deep) or, with none or <c>-</c>, stdin. See tools/Drt.Fuzz/README.md.
/// </remarks>
internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length == 1 && args[0] == "--libfuzzer")
        {
            // A throw escapes to libFuzzer, which saves the input as a crash; SharpFuzz needs the assembly instrumented.
            Fuzzer.LibFuzzer.Run(WireTarget.Run);
            return 0;
        }

        if (args.Length == 1 && args[0] == "--afl")
        {
            Fuzzer.OutOfProcess.Run(stream => WireTarget.Run(ReadAll(stream)));
            return 0;
        }

        if (args.Length == 2 && args[0] == "--make-corpus")
        {
            int written = SeedCorpus.Write(args[1]);
            Console.WriteLine($"drt-fuzz: wrote {written} seed inputs to {args[1]}");
            return 0;
        }

        if (args.Length == 0 || (args.Length == 1 && args[0] == "-"))
        {
            using Stream stdin = Console.OpenStandardInput();
            return RunOne("stdin", ReadAll(stdin)) ? 0 : 1;
        }

        return RunFiles(args);
    }

    /// <summary>Runs every input file; a directory contributes its files. Exit 1 when any input made a decoder throw.</summary>
    private static int RunFiles(string[] paths)
    {
        int inputs = 0;
        int failures = 0;
        foreach (string path in paths)
        {
            if (!Directory.Exists(path) && !File.Exists(path))
            {
                Console.Error.WriteLine($"drt-fuzz: no such file or directory: {path}");
                return 2;
            }

            string[] files = Directory.Exists(path) ? Directory.GetFiles(path) : [path];
            Array.Sort(files, StringComparer.Ordinal);
            foreach (string file in files)
            {
                inputs++;
                failures += RunOne(file, File.ReadAllBytes(file)) ? 0 : 1;
            }
        }

        Console.WriteLine($"drt-fuzz: {inputs} inputs, {failures} failures");
        return failures == 0 ? 0 : 1;
    }

    /// <summary>One input; a throw is reported with the input's name (the fuzzers' own modes let it escape instead).</summary>
    private static bool RunOne(string name, byte[] input)
    {
        try
        {
            WireTarget.Run(input);
            return true;
        }
        catch (Exception error)
        {
            Console.Error.WriteLine($"drt-fuzz: {name} ({input.Length} bytes): {error}");
            return false;
        }
    }

    private static byte[] ReadAll(Stream stream)
    {
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
