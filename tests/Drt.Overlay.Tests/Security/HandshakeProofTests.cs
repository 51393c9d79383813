using Drt.Overlay.Security;
using Xunit;
using static Drt.Overlay.Tests.Security.SecurityTestKit;

namespace Drt.Overlay.Tests.Security;

/// <summary>The identity signature over an ephemeral key, and the replay window on its own.</summary>
public sealed class HandshakeProofTests
{
    [Fact]
    public void A_responder_proof_binds_the_initiators_ephemeral_key()
    {
        using DrtIdentity responder = Identity(2);
        var provider = new DerivedKeySecurityProvider(DrtSecurityMode.Resolve, responder, NetworkId);
        byte[] own = Enumerable.Repeat((byte)7, 32).ToArray();
        byte[] initiatorEphemeral = Enumerable.Repeat((byte)9, 32).ToArray();
        byte[] message = new byte[128];
        int length = SessionHandshake.WriteProofMessage(NetworkId, isInitiator: false, own, initiatorEphemeral, message);
        byte[] signature = new byte[64];
        provider.Sign(message.AsSpan(0, length), signature);
        Assert.True(provider.Verify(responder.PublicKey.Span, message.AsSpan(0, length), signature));

        // Replayed to another initiator (another ephemeral key), or read as an initiator's proof: fails.
        int other = SessionHandshake.WriteProofMessage(NetworkId, isInitiator: false, own, Flip(initiatorEphemeral), message);
        Assert.False(provider.Verify(responder.PublicKey.Span, message.AsSpan(0, other), signature));
        int asInitiator = SessionHandshake.WriteProofMessage(NetworkId, isInitiator: true, own, initiatorEphemeral, message);
        Assert.False(provider.Verify(responder.PublicKey.Span, message.AsSpan(0, asInitiator), signature));
    }

    [Fact]
    public void The_replay_window_tracks_exactly_its_size_below_the_newest()
    {
        var window = default(ReplayWindow);
        Assert.Equal(ReplayWindow.Result.TooOld, window.Check(0));
        var random = new Random(42);
        var seen = new HashSet<ulong>();
        ulong highest = 0;
        for (int i = 0; i < 20_000; i++)
        {
            // Mostly forward, sometimes far behind, sometimes a big jump: the model decides what is fresh.
            ulong counter = Math.Max(1, (ulong)Math.Max(1L, (long)highest + random.Next(-1200, 80)));
            if (random.Next(500) == 0)
            {
                counter += 5000;
            }

            ReplayWindow.Result expected = counter + ReplayWindow.Size <= highest ? ReplayWindow.Result.TooOld
                : seen.Contains(counter) ? ReplayWindow.Result.Replayed
                : ReplayWindow.Result.Fresh;
            Assert.Equal(expected, window.Check(counter));
            if (expected == ReplayWindow.Result.Fresh)
            {
                window.Mark(counter);
                seen.Add(counter);
                highest = Math.Max(highest, counter);
            }
        }
    }
}
