namespace Drt.Node.Cli;

/// <summary>The drt executable's exit codes (documented in docs/cli.md; scripts rely on them).</summary>
internal static class ExitCodes
{
    /// <summary>It worked.</summary>
    public const int Success = 0;

    /// <summary>A search ended without a result (not an error: nothing is registered there).</summary>
    public const int NotFound = 1;

    /// <summary>The command line is wrong: an unknown flag, a bad key, a value out of range. One line on stderr says which.</summary>
    public const int Usage = 2;

    /// <summary>No node answers on the control socket (not running, or another path).</summary>
    public const int NodeUnreachable = 3;

    /// <summary>The node (or the short-lived instance) refused or failed the operation; stderr names DRT's error.</summary>
    public const int Failed = 4;

    /// <summary>A file the command needs could not be read or written (identity, configuration, data directory).</summary>
    public const int FileProblem = 5;

    /// <summary>Interrupted before it finished (SIGINT or SIGTERM during a one-shot command).</summary>
    public const int Interrupted = 130;
}
