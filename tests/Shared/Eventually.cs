namespace CheckpointCache.Tests.Shared;

/// <summary>
/// Waits for a state a node or cluster reaches by itself (a lease expiring, a rebalance settling, a backlog draining).
/// Tests assert on the state, never on how long it took; the limit only keeps a broken node from hanging the suite.
/// </summary>
public static class Eventually
{
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? limit = null)
    {
        var deadline = DateTime.UtcNow + (limit ?? TimeSpan.FromMinutes(2));
        Exception? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await condition()) return;
            }
            catch (Exception e) { last = e; }
            await Task.Delay(100);
        }
        throw new TimeoutException($"gave up waiting for: {what}" + (last is null ? "" : $" (last error: {last.Message})"));
    }
}
