using BenchmarkDotNet.Running;

namespace Drt.Overlay.Benchmarks;

/// <summary>Entry point: <c>dotnet run -c Release --project bench/Drt.Overlay.Benchmarks -- --filter '*'</c>.</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
