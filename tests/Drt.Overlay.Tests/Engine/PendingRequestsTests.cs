using Drt.Overlay.Engine;
using Xunit;

namespace Drt.Overlay.Tests.Engine;

public sealed class PendingRequestsTests
{
    private static PendingRequest Request(ulong id, int peer, long deadline) =>
        new() { MessageId = id, PeerId = peer, Deadline = deadline, Kind = 1 };

    [Fact]
    public void An_answer_completes_its_request_only_from_the_peer_asked()
    {
        var table = new PendingRequests(8);
        Assert.True(table.TryAdd(Request(42, peer: 7, deadline: 100)));
        Assert.False(table.TryAdd(Request(42, peer: 8, deadline: 100))); // the id is taken

        Assert.Equal(CompleteResult.WrongPeer, table.TryComplete(42, fromPeerId: 9, out _));
        Assert.Equal(1, table.Count);
        Assert.Equal(CompleteResult.Completed, table.TryComplete(42, fromPeerId: 7, out PendingRequest done));
        Assert.Equal(7, done.PeerId);
        Assert.Equal(CompleteResult.Unknown, table.TryComplete(42, fromPeerId: 7, out _)); // duplicate answer
        Assert.Equal(0, table.Count);
    }

    [Fact]
    public void Requests_expire_in_deadline_order_and_completed_ones_never_expire()
    {
        var table = new PendingRequests(8);
        table.TryAdd(Request(1, 1, deadline: 300));
        table.TryAdd(Request(2, 1, deadline: 100));
        table.TryAdd(Request(3, 1, deadline: 200));
        table.TryAdd(Request(4, 1, deadline: 150));
        table.TryComplete(4, 1, out _);

        Assert.True(table.TryPeekDeadline(out long first));
        Assert.Equal(100, first);

        Span<PendingRequest> expired = new PendingRequest[8];
        Assert.Equal(0, table.TakeExpired(99, expired));
        int n = table.TakeExpired(250, expired);
        Assert.Equal(2, n);
        Assert.Equal(2UL, expired[0].MessageId);
        Assert.Equal(3UL, expired[1].MessageId);
        Assert.True(table.TryPeekDeadline(out long next));
        Assert.Equal(300, next);
        Assert.Equal(1, table.Count);
    }

    [Fact]
    public void The_table_is_bounded_and_reuses_slots_without_confusing_old_deadlines()
    {
        var table = new PendingRequests(2);
        Assert.True(table.TryAdd(Request(1, 1, 10)));
        Assert.True(table.TryAdd(Request(2, 1, 20)));
        Assert.False(table.TryAdd(Request(3, 1, 30)));

        // Slot of request 1 is reused by request 3 with a later deadline: the old heap entry is stale.
        Assert.True(table.Remove(1));
        Assert.True(table.TryAdd(Request(3, 1, 30)));
        Span<PendingRequest> expired = new PendingRequest[4];
        Assert.Equal(1, table.TakeExpired(25, expired));
        Assert.Equal(2UL, expired[0].MessageId);
        Assert.True(table.TryGet(3, out _));
    }

    [Fact]
    public void A_random_workload_matches_a_simple_model()
    {
        const int Seed = 1234;
        var random = new Random(Seed);
        var table = new PendingRequests(64);
        var model = new Dictionary<ulong, long>();
        Span<PendingRequest> expired = new PendingRequest[16];
        long now = 0;
        ulong nextId = 1;
        for (int step = 0; step < 20_000; step++)
        {
            switch (random.Next(4))
            {
                case 0:
                case 1:
                    long deadline = now + random.Next(1, 500);
                    bool added = table.TryAdd(Request(nextId, 1, deadline));
                    Assert.True(added == (model.Count < 64), $"seed {Seed}, step {step}");
                    if (added)
                    {
                        model[nextId] = deadline;
                    }

                    nextId++;
                    break;
                case 2 when model.Count > 0:
                    ulong id = model.Keys.ElementAt(random.Next(model.Count));
                    Assert.Equal(CompleteResult.Completed, table.TryComplete(id, 1, out _));
                    model.Remove(id);
                    break;
                default:
                    now += random.Next(0, 50);
                    int n;
                    while ((n = table.TakeExpired(now, expired)) > 0)
                    {
                        for (int i = 0; i < n; i++)
                        {
                            Assert.True(model.Remove(expired[i].MessageId, out long d) && d <= now, $"seed {Seed}, step {step}");
                        }
                    }

                    Assert.DoesNotContain(model.Values, d => d <= now);
                    break;
            }

            Assert.Equal(model.Count, table.Count);
        }
    }

    [Fact]
    public void Steady_state_use_allocates_nothing()
    {
        var table = new PendingRequests(128);
        Span<PendingRequest> expired = new PendingRequest[16];
        for (ulong i = 0; i < 1000; i++)
        {
            table.TryAdd(Request(i, 1, (long)i));
            table.TakeExpired((long)i, expired);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (ulong i = 1000; i < 100_000; i++)
        {
            table.TryAdd(Request(i, 1, (long)i + 5));
            if (i % 3 == 0)
            {
                table.TryComplete(i, 1, out _);
            }

            table.TakeExpired((long)i, expired);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void AnswersBeforeFarDeadlinesLeaveNoPileOfStaleEntriesAndNoAllocation()
    {
        var table = new PendingRequests(64);
        table.TryAdd(Request(1, 1, 1_000_000_000)); // one request that stays pending throughout
        for (ulong i = 2; i < 1_000; i++)
        {
            table.TryAdd(Request(i, 1, 1_000_000 + (long)i));
            table.TryComplete(i, 1, out _);
        }

        int answered = 0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (ulong i = 1_000; i < 200_000; i++)
        {
            // Answered at once, each with a deadline far ahead: the heap entry is stale from the start.
            table.TryAdd(Request(i, 1, 1_000_000 + (long)i));
            answered += table.TryComplete(i, 1, out _) == CompleteResult.Completed ? 1 : 0;
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(199_000, answered);
        Assert.True(table.TryPeekDeadline(out long deadline));
        Assert.Equal(1_000_000_000, deadline);
        Assert.Equal(1, table.Count);
    }
}
