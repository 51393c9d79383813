using System.Net;
using System.Net.Sockets;
using Xunit;

namespace Drt.Overlay.Tests.Transport;

/// <summary>Which loopback addresses this host lets a test bind (::1, and 127.0.0.0/8 beyond 127.0.0.1 on Linux).</summary>
internal static class LoopbackAddresses
{
    /// <summary>Skips the test, saying which address and why, unless every one of <paramref name="addresses"/> can be bound.</summary>
    public static void SkipUnlessBindable(params IPAddress[] addresses)
    {
        foreach (IPAddress address in addresses)
        {
            if ((address.AddressFamily == AddressFamily.InterNetworkV6 && !Socket.OSSupportsIPv6) || !CanBind(address))
            {
                Assert.Skip($"{address} cannot be bound on this host (no IPv6 loopback, or no route for 127.0.0.0/8 beyond 127.0.0.1).");
            }
        }
    }

    private static bool CanBind(IPAddress address)
    {
        try
        {
            using var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(address, 0));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
