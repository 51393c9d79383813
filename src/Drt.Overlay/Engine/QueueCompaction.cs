namespace Drt.Overlay.Engine;

/// <summary>
/// Drops the stale entries of a <see cref="PriorityQueue{TElement, TPriority}"/> (a cancelled timer's event, an
/// answered request's deadline), which a heap cannot remove where they are. Without allocating: the live entries go
/// to a scratch array, the queue is cleared and refilled.
/// </summary>
internal static class QueueCompaction
{
    /// <summary>
    /// Keeps only the entries <paramref name="isLive"/> accepts; returns how many. <paramref name="scratch"/> must hold
    /// every entry of the queue; <paramref name="items"/> is the queue's own (cached) unordered view.
    /// </summary>
    public static int Compact<TElement, TPriority>(
        PriorityQueue<TElement, TPriority> queue,
        PriorityQueue<TElement, TPriority>.UnorderedItemsCollection items,
        (TElement Element, TPriority Priority)[] scratch,
        Func<TElement, bool> isLive)
    {
        int live = 0;
        foreach ((TElement element, TPriority priority) in items)
        {
            if (isLive(element))
            {
                scratch[live++] = (element, priority);
            }
        }

        queue.Clear();
        for (int i = 0; i < live; i++)
        {
            queue.Enqueue(scratch[i].Element, scratch[i].Priority);
        }

        Array.Clear(scratch, 0, live); // no references kept beyond the queue's own
        return live;
    }
}
