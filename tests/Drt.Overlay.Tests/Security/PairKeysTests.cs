using Drt.Overlay.Security;
using Drt.Overlay.Wire.Protocol;
using NSec.Cryptography;
using Xunit;
using static Drt.Overlay.Tests.Security.SecurityTestKit;

namespace Drt.Overlay.Tests.Security;

/// <summary>Pair keys: both ends of a pair agree the same MAC key, nobody else does, and the table stays bounded.</summary>
public sealed class PairKeysTests : IDisposable
{
    private readonly PairKeys _owner = New(1);
    private readonly PairKeys _searcher = New(2);
    private readonly PairKeys _relay = New(3);
    private readonly byte[] _message = "drt.overlay/nonce/v1 and what it binds"u8.ToArray();

    public void Dispose()
    {
        _owner.Dispose();
        _searcher.Dispose();
        _relay.Dispose();
    }

    [Fact]
    public void Both_ends_agree_the_same_key_whichever_proves()
    {
        Assert.True(_owner.TryAgree(_searcher.PublicKey.Span, out Key ownerSide));
        Assert.True(_searcher.TryAgree(_owner.PublicKey.Span, out Key searcherSide));
        byte[] tag = new byte[WireLimits.MacProofLength];
        PairKeys.Mac(ownerSide, _message, tag);
        Assert.True(PairKeys.VerifyMac(searcherSide, _message, tag));

        // The other way round too: one pair key serves both roles (the proved message names them).
        PairKeys.Mac(searcherSide, _message, tag);
        Assert.True(PairKeys.VerifyMac(ownerSide, _message, tag));
    }

    [Fact]
    public void A_third_party_or_another_network_has_another_key()
    {
        Assert.True(_owner.TryAgree(_relay.PublicKey.Span, out Key withRelay));
        Assert.True(_searcher.TryAgree(_owner.PublicKey.Span, out Key searcherSide));
        byte[] tag = new byte[WireLimits.MacProofLength];
        PairKeys.Mac(withRelay, _message, tag);
        Assert.False(PairKeys.VerifyMac(searcherSide, _message, tag));

        using PairKeys otherNetwork = New(1, NetworkId + 1);
        Assert.True(otherNetwork.TryAgree(_searcher.PublicKey.Span, out Key otherKey));
        PairKeys.Mac(otherKey, _message, tag);
        Assert.False(PairKeys.VerifyMac(searcherSide, _message, tag));

        // And the MAC itself: one flipped bit of message or tag, or a short tag, fails.
        PairKeys.Mac(searcherSide, _message, tag);
        Assert.False(PairKeys.VerifyMac(searcherSide, Flip(_message, 3), tag));
        Assert.False(PairKeys.VerifyMac(searcherSide, _message, Flip(tag, 15)));
        Assert.False(PairKeys.VerifyMac(searcherSide, _message, tag.AsSpan(0, 15)));
    }

    [Fact]
    public void Low_order_and_malformed_exchange_keys_give_no_key()
    {
        // The all-zero point and the point of order 8 below make an all-zero shared secret: refused, not derived.
        byte[] orderEight = Convert.FromHexString("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157");
        Assert.False(_owner.TryAgree(new byte[32], out _));
        Assert.False(_owner.TryAgree(orderEight, out _));
        Assert.False(_owner.TryAgree(new byte[31], out _));
        Assert.False(_owner.TryGet(new byte[31], out _));
        Assert.Equal(0, _owner.Count);
    }

    [Fact]
    public void The_table_keeps_the_newest_keys_up_to_its_capacity()
    {
        const int Capacity = 16;
        using var table = new PairKeys(NetworkId, Capacity, Seed(9));
        var peers = new List<PairKeys>();
        try
        {
            for (int i = 0; i < Capacity + 3; i++)
            {
                peers.Add(New((byte)(20 + i)));
                Assert.True(table.TryAgree(peers[i].PublicKey.Span, out _));
            }

            Assert.Equal(Capacity, table.Count);
            Assert.Equal(3, table.Evictions);
            Assert.False(table.TryGet(peers[0].PublicKey.Span, out _)); // the oldest three went first
            Assert.False(table.TryGet(peers[2].PublicKey.Span, out _));
            Assert.True(table.TryGet(peers[3].PublicKey.Span, out _));
            Assert.True(table.TryGet(peers[^1].PublicKey.Span, out _));

            // Agreeing again with a held key replaces it in place: nothing else is evicted.
            Assert.True(table.TryAgree(peers[5].PublicKey.Span, out _));
            Assert.Equal(Capacity, table.Count);
            Assert.Equal(3, table.Evictions);
            Assert.Equal(Capacity + 4, table.Agreements);
        }
        finally
        {
            peers.ForEach(p => p.Dispose());
        }
    }

    [Fact]
    public void A_held_key_is_found_and_used_without_allocating()
    {
        Assert.True(_owner.TryAgree(_searcher.PublicKey.Span, out _));
        byte[] tag = new byte[WireLimits.MacProofLength];
        ReadOnlySpan<byte> peer = _searcher.PublicKey.Span;
        Assert.True(_owner.TryGet(peer, out Key warm));
        PairKeys.Mac(warm, _message, tag);
        Assert.True(PairKeys.VerifyMac(warm, _message, tag));

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1_000; i++)
        {
            Assert.True(_owner.TryGet(peer, out Key key));
            PairKeys.Mac(key, _message, tag);
            Assert.True(PairKeys.VerifyMac(key, _message, tag));
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private static PairKeys New(byte seed, uint networkId = NetworkId) => new(networkId, 64, Seed(seed));

    private static byte[] Seed(byte seed)
    {
        byte[] bytes = new byte[32];
        Array.Fill(bytes, seed);
        return bytes;
    }
}
