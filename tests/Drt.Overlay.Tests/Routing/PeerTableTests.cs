using System.Net;
using Drt.Overlay.Routing;
using Xunit;

namespace Drt.Overlay.Tests.Routing;

public sealed class PeerTableTests
{
    [Fact]
    public void A_peer_is_found_by_any_address_instance_with_the_same_bytes_and_the_table_keeps_its_own_copy()
    {
        var table = new PeerTable(10);
        SocketAddress scratch = new IPEndPoint(IPAddress.Loopback, 5000).Serialize();
        Assert.True(table.TryGetOrAdd(scratch, out int id, out bool added));
        Assert.True(added);

        // The transport reuses its address object: rewriting it must not disturb the table.
        new IPEndPoint(IPAddress.Parse("127.0.0.2"), 6000).Serialize().Buffer.Span.CopyTo(scratch.Buffer.Span);
        Assert.False(table.TryGet(scratch, out _));
        Assert.True(table.TryGet(new IPEndPoint(IPAddress.Loopback, 5000).Serialize(), out int again));
        Assert.Equal(id, again);
        Assert.NotSame(scratch, table[id].Address);

        Assert.True(table.TryGetOrAdd(new IPEndPoint(IPAddress.Loopback, 5000).Serialize(), out int third, out bool addedAgain));
        Assert.False(addedAgain);
        Assert.Equal(id, third);
    }

    [Fact]
    public void The_table_is_bounded_and_reuses_ids()
    {
        var table = new PeerTable(3);
        for (int port = 1; port <= 3; port++)
        {
            Assert.True(table.TryGetOrAdd(new IPEndPoint(IPAddress.Loopback, 4000 + port).Serialize(), out _, out _));
        }

        Assert.False(table.TryGetOrAdd(new IPEndPoint(IPAddress.Loopback, 4999).Serialize(), out int refused, out _));
        Assert.Equal(-1, refused);

        Assert.True(table.TryGet(new IPEndPoint(IPAddress.Loopback, 4002).Serialize(), out int second));
        Assert.True(table.Remove(second));
        Assert.False(table.Remove(second));
        Assert.True(table.TryGetOrAdd(new IPEndPoint(IPAddress.Loopback, 4999).Serialize(), out int reused, out _));
        Assert.Equal(second, reused);
        Assert.Equal(3, table.Count);
    }

    [Fact]
    public void Lookups_allocate_nothing()
    {
        var table = new PeerTable(100);
        SocketAddress probe = new IPEndPoint(IPAddress.Loopback, 7000).Serialize();
        table.TryGetOrAdd(probe, out _, out _);
        table.TryGet(probe, out _);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            table.TryGetOrAdd(probe, out _, out _);
            PeerTable.SubnetOf(probe);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData("192.0.2.3", "192.0.2.200", true)]
    [InlineData("192.0.2.3", "198.51.100.3", false)]
    [InlineData("::ffff:192.0.2.3", "192.0.2.99", true)]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:ffff::2", true)]
    [InlineData("2001:db8:1:2::1", "2001:db8:2:2::1", false)]
    [InlineData("::ffff:0.0.0.1", "::1", false)]
    public void Subnets_are_slash_24_and_slash_48(string a, string b, bool same)
    {
        ulong sa = PeerTable.SubnetOf(new IPEndPoint(IPAddress.Parse(a), 1));
        ulong sb = PeerTable.SubnetOf(new IPEndPoint(IPAddress.Parse(b), 2));
        Assert.Equal(same, sa == sb);
    }
}
