namespace Drt.Overlay;

/// <summary>
/// Why a call failed; carried by <see cref="DrtException"/>. Names follow DRT's HRESULTs where one exists
/// (DRT_E_INVALID_SETTINGS, DRT_E_DUPLICATE_KEY, DRT_E_FAULTED, ...).
/// </summary>
public enum DrtError
{
    /// <summary>A setting is out of range or inconsistent; the message names it.</summary>
    InvalidSettings = 1,

    /// <summary>An argument is invalid (null, empty, too large); the message names it.</summary>
    InvalidArgument = 2,

    /// <summary>A key does not match what the security provider derives for it.</summary>
    InvalidKey = 3,

    /// <summary>The key is already registered by this instance.</summary>
    DuplicateKey = 4,

    /// <summary>A search range is empty or does not contain the target.</summary>
    InvalidSearchRange = 5,

    /// <summary>The number of results asked for is out of range, or more than one with any-match-in-range.</summary>
    InvalidMaxEndpoints = 6,

    /// <summary>The instance hit an unrecoverable error; close it.</summary>
    Faulted = 7,

    /// <summary>The instance, search or registration is closed.</summary>
    Closed = 8,

    /// <summary>A bounded resource is full (searches, registrations); try again later.</summary>
    Busy = 9,

    /// <summary>The operation is not valid in the current state (e.g. continuing a non-iterative search).</summary>
    InvalidOperation = 10,

    /// <summary>The transport could not open or bind its socket (address in use, address not local); the inner exception says which.</summary>
    TransportFailed = 11,

    /// <summary>The key size is not 32 bytes (256 bits), the only size this overlay uses.</summary>
    InvalidKeySize = 12,

    /// <summary>The number of addresses per registration is outside 1..20.</summary>
    InvalidMaxAddresses = 13,

    /// <summary>The instance name is empty or longer than 128 characters.</summary>
    InvalidInstanceName = 14,

    /// <summary>The application data is empty or larger than 5,120 bytes (or a routed payload larger than 1,024).</summary>
    PayloadTooLarge = 15,

    /// <summary>Something did not answer in time (a bootstrap endpoint, a node); the message says what was waited for.</summary>
    Timeout = 16,

    /// <summary>An identity (private key) cannot be used: its file is unreadable, malformed, or accessible by others.</summary>
    InvalidIdentity = 17,

    /// <summary>
    /// A membership credential cannot be used: malformed, expired, not yet valid, for another identity, network or root
    /// (DRT_E_INVALID_CERT_CHAIN); the message says which.
    /// </summary>
    InvalidCredential = 18,

    /// <summary>
    /// The security provider cannot do what the settings ask of it (DRT_E_CAPABILITY_MISMATCH): it was built for another
    /// network id, or its mode needs signatures and an identity it does not have; the message says what to change.
    /// </summary>
    CapabilityMismatch = 19,
}
