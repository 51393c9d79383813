using System.Globalization;
using System.Net;
using Drt.Overlay.Bootstrap;
using Drt.Overlay.Transport;
using Drt.Overlay.Wire;

namespace Drt.Node.Cli;

/// <summary>A command line that cannot be carried out: becomes one line on stderr and exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>Turns the CLI's text (keys, endpoints, data) into values, with messages that say what is expected.</summary>
internal static class Parsing
{
    /// <summary>A 256-bit key written as 64 hexadecimal digits.</summary>
    public static Key256 Key(string text, string what)
    {
        if (!Key256.TryParse(text, out Key256 key, out string? error))
        {
            throw new UsageException($"{what} '{Shorten(text)}' is not a key: {error} (a key is 64 hexadecimal digits)");
        }

        return key;
    }

    /// <summary>
    /// A bootstrap or peer endpoint: <c>host:port</c>, <c>[v6]:port</c>, <c>a.b.c.d:port</c>. Literal addresses are
    /// used as they are; a host name becomes a DNS provider (A and AAAA).
    /// </summary>
    public static IBootstrapProvider Bootstrap(string text)
    {
        (string host, int port) = HostAndPort(text);
        return IPAddress.TryParse(host, out IPAddress? address)
            ? new StaticBootstrapProvider([new IPEndPoint(address, port)])
            : new DnsBootstrapProvider(host, port);
    }

    /// <summary>Splits <c>host:port</c> or <c>[v6]:port</c>.</summary>
    public static (string Host, int Port) HostAndPort(string text)
    {
        string host;
        string portText;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= text.Length || text[close + 1] != ':')
            {
                throw new UsageException($"bootstrap '{text}' is not [IPv6]:port");
            }

            host = text[1..close];
            portText = text[(close + 2)..];
        }
        else
        {
            int colon = text.LastIndexOf(':');
            if (colon <= 0 || text.IndexOf(':', StringComparison.Ordinal) != colon)
            {
                throw new UsageException($"bootstrap '{text}' is not host:port (write an IPv6 address as [address]:port)");
            }

            host = text[..colon];
            portText = text[(colon + 1)..];
        }

        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
        {
            throw new UsageException($"bootstrap '{text}' has no port in 1..65535");
        }

        return (host, port);
    }

    /// <summary>An address to bind.</summary>
    public static IPAddress BindAddress(string text) =>
        IPAddress.TryParse(text, out IPAddress? address) ? address : throw new UsageException($"--bind '{text}' is not an IP address (e.g. 0.0.0.0, ::, 10.0.0.2)");

    /// <summary>
    /// The addresses to bind (<c>--bind</c>, repeatable; none: <c>::</c>, every address), checked as the transport
    /// checks them but worded for the command line: at most <see cref="UdpTransportOptions.MaxBindAddresses"/>, each
    /// once, a wildcard only alone, IPv4 as IPv4.
    /// </summary>
    public static IPAddress[] BindAddresses(IReadOnlyList<string> texts)
    {
        if (texts.Count == 0)
        {
            return [IPAddress.IPv6Any];
        }

        if (texts.Count > UdpTransportOptions.MaxBindAddresses)
        {
            throw new UsageException($"--bind is given {texts.Count} times; a node binds at most {UdpTransportOptions.MaxBindAddresses} addresses (:: alone listens on every address)");
        }

        var addresses = new IPAddress[texts.Count];
        for (int i = 0; i < addresses.Length; i++)
        {
            IPAddress address = BindAddress(texts[i]);
            if (texts.Count > 1 && (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)))
            {
                throw new UsageException($"--bind {address} already listens on every address; give it alone, or only specific addresses");
            }

            if (texts.Count > 1 && address.IsIPv4MappedToIPv6)
            {
                throw new UsageException($"--bind {address} is an IPv4-mapped address; write it as {address.MapToIPv4()}");
            }

            if (Array.IndexOf(addresses, address, 0, i) >= 0)
            {
                throw new UsageException($"--bind {address} is given twice; give each address once");
            }

            addresses[i] = address;
        }

        return addresses;
    }

    /// <summary>Text for an endpoint the way the CLI prints it: <c>a.b.c.d:port</c> or <c>[v6]:port</c>.</summary>
    public static string Format(IPEndPoint endpoint)
    {
        IPAddress address = endpoint.Address.IsIPv4MappedToIPv6 ? endpoint.Address.MapToIPv4() : endpoint.Address;
        return address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]:{endpoint.Port}" : $"{address}:{endpoint.Port}";
    }

    private static string Shorten(string text) => text.Length <= 80 ? text : text[..77] + "...";
}
