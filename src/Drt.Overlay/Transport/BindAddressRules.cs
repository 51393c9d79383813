using System.Net;

namespace Drt.Overlay.Transport;

/// <summary>
/// What a list of addresses to bind must be, for <see cref="UdpTransportOptions"/> and <see cref="DrtSettings"/> alike:
/// 1..<see cref="UdpTransportOptions.MaxBindAddresses"/> addresses, each once; a wildcard (<c>::</c>, <c>0.0.0.0</c>)
/// only alone, since it already receives on every local address (and its socket would hold the port on all of them);
/// in a list, IPv4 written as IPv4 (an IPv4-mapped address would be a second IPv6 socket for an IPv4 address).
/// </summary>
internal static class BindAddressRules
{
    /// <summary>The first problem of <paramref name="addresses"/>, worded with the setting's <paramref name="name"/>; null when there is none.</summary>
    public static string? Problem(IReadOnlyList<IPAddress?>? addresses, string name)
    {
        if (addresses is null)
        {
            return $"{name} is null; give 1..{UdpTransportOptions.MaxBindAddresses} addresses to bind, e.g. [IPAddress.IPv6Any] for every local address.";
        }

        if (addresses.Count is 0 or > UdpTransportOptions.MaxBindAddresses)
        {
            return $"{name} has {addresses.Count} addresses; give 1..{UdpTransportOptions.MaxBindAddresses} (IPAddress.IPv6Any alone receives on every local address).";
        }

        for (int i = 0; i < addresses.Count; i++)
        {
            IPAddress? address = addresses[i];
            if (address is null)
            {
                return $"{name}[{i}] is null; give an address to bind, e.g. IPAddress.IPv6Any.";
            }

            if (addresses.Count == 1)
            {
                break; // one address: anything IPAddress holds is tried as it is, as it always was
            }

            if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
            {
                return $"{name}[{i}] is {address}, which already receives on every local address: bind it alone, or list specific addresses only.";
            }

            if (address.IsIPv4MappedToIPv6)
            {
                return $"{name}[{i}] is the IPv4-mapped {address}; write it as {address.MapToIPv4()}.";
            }

            for (int j = 0; j < i; j++)
            {
                if (address.Equals(addresses[j]))
                {
                    return $"{name} lists {address} twice (at {j} and {i}); give each address once.";
                }
            }
        }

        return null;
    }
}
