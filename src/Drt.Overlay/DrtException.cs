namespace Drt.Overlay;

/// <summary>A call into Drt.Overlay was misused or cannot proceed; <see cref="Error"/> says why.</summary>
public sealed class DrtException : Exception
{
    /// <summary>Creates an exception with an error code and a message that says what to fix.</summary>
    public DrtException(DrtError error, string message)
        : base(message)
    {
        Error = error;
    }

    /// <summary>Creates an exception with an error code, a message and the exception that caused it.</summary>
    public DrtException(DrtError error, string message, Exception innerException)
        : base(message, innerException)
    {
        Error = error;
    }

    /// <summary>Why the call failed.</summary>
    public DrtError Error { get; }
}
