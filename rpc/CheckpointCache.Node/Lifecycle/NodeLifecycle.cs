using System.Diagnostics;
using CheckpointCache.Cluster;
using CheckpointCache.Engine;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Node.Lifecycle;

/// <summary>
/// Takes the node out of service in order: refuse new client writes, let the writes in flight finish, leave the
/// cluster (revoke the etcd lease, so the others rebalance at once instead of after the TTL), hand the copies no
/// other member holds to their owners, flush the cloud writeback queue, and commit the engine. Reads are served
/// throughout. One drain per process: `drain` and SIGTERM share it, and a second call waits for the first.
/// </summary>
public sealed class NodeLifecycle(ICacheEngine engine, ClusterNode cluster, IEnumerable<IWritebackQueue> writeback, TimeSpan timeout, ILogger<NodeLifecycle> logger)
{
    private readonly Lock _gate = new();
    private readonly IWritebackQueue[] _writeback = writeback.ToArray();
    private int _state;
    private long _writesInFlight;
    private long _writesRefused;
    private long _drainStarted;
    private Task<DrainResult>? _drain;

    public LifecycleState State => (LifecycleState)Volatile.Read(ref _state);

    /// <summary>What /healthz/ready answers: only a serving node takes new work.</summary>
    public bool Ready => State == LifecycleState.Serving;

    public long WritesInFlight => Interlocked.Read(ref _writesInFlight);
    public long WritesRefused => Interlocked.Read(ref _writesRefused);
    public TimeSpan Timeout => timeout;
    public IReadOnlyList<IWritebackQueue> Writeback => _writeback;

    public TimeSpan DrainingFor => State == LifecycleState.Serving ? TimeSpan.Zero : Stopwatch.GetElapsedTime(Interlocked.Read(ref _drainStarted));

    /// <summary>
    /// Counts a client write in; false (and counted as refused) once a drain has begun. The count goes up before
    /// the state is read, so a drain that flips the state and then reads the count never misses a write that got in.
    /// </summary>
    public bool TryBeginWrite()
    {
        Interlocked.Increment(ref _writesInFlight);
        if (State == LifecycleState.Serving) return true;
        Interlocked.Decrement(ref _writesInFlight);
        Interlocked.Increment(ref _writesRefused);
        return false;
    }

    /// <summary>Counts in a call that continues a write session opened before any drain (never refused).</summary>
    public void BeginSessionWrite() => Interlocked.Increment(ref _writesInFlight);

    public void EndWrite() => Interlocked.Decrement(ref _writesInFlight);

    /// <summary>
    /// Starts the drain, or joins the one under way. The steps share <paramref name="budget"/> (Node:ShutdownTimeout
    /// when not given): waiting for writes may use 40% of it, leaving and the hand-off up to 70%, the writeback flush
    /// up to 85%, and the commit the rest, so a write that never ends cannot keep the others from being committed.
    /// </summary>
    public Task<DrainResult> DrainAsync(string reason, TimeSpan? budget = null)
    {
        lock (_gate)
        {
            if (_drain is not null) return _drain;
            Interlocked.Exchange(ref _drainStarted, Stopwatch.GetTimestamp());
            Interlocked.Exchange(ref _state, (int)LifecycleState.Draining);
            var total = budget ?? timeout;
            _drain = Task.Run(() => RunAsync(reason, total));
            return _drain;
        }
    }

    private async Task<DrainResult> RunAsync(string reason, TimeSpan budget)
    {
        var started = Stopwatch.GetTimestamp();
        // Each step's deadline counts from the start of the drain.
        CancellationTokenSource Until(double share)
        {
            var left = budget * share - Stopwatch.GetElapsedTime(started);
            return new CancellationTokenSource(left > TimeSpan.Zero ? left : TimeSpan.Zero);
        }
        var notes = new List<string>();
        long waited = WritesInFlight;
        logger.LogInformation("Draining ({Reason}): new writes are refused, {Writes} writes in flight, reads still served", reason, waited);

        // 1. Writes in flight finish; new ones are already refused by the interceptor.
        using (var writes = Until(0.40))
        {
            while (WritesInFlight > 0 && !writes.IsCancellationRequested)
            {
                try { await Task.Delay(20, writes.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
            }
        }
        if (WritesInFlight > 0) notes.Add($"{WritesInFlight} writes still in flight when their share of the drain's {budget} passed");

        // 2. Leave the cluster, then hand over the copies only this node holds.
        bool left = false;
        long handedOff = 0;
        if (cluster.Enabled)
        {
            using var leave = Until(0.70);
            try
            {
                (left, handedOff) = await cluster.LeaveAsync(leave.Token).ConfigureAwait(false);
                if (!left) notes.Add("could not revoke the etcd lease; the others see this node leave after the lease TTL");
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                notes.Add($"leaving the cluster: {e.Message}");
                logger.LogWarning(e, "Leaving the cluster during the drain failed");
            }
        }

        // 3. Cloud writeback: what is queued reaches Blob (or its durable queue) before the process may go.
        foreach (var queue in _writeback)
        {
            using var flush = Until(0.85);
            try
            {
                await queue.FlushAsync(flush.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                notes.Add($"flushing the writeback queue: {e.Message} ({queue.BacklogObjects} objects left)");
                logger.LogWarning(e, "Flushing the writeback queue during the drain failed; {Objects} objects left", queue.BacklogObjects);
            }
        }

        // 4. Commit: everything acknowledged is on the SSD with a checkpoint, so a restart replays nothing.
        bool committed = false;
        using var commit = Until(1.0);
        try
        {
            await engine.CommitAsync(commit.Token).ConfigureAwait(false);
            committed = true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            notes.Add($"commit: {e.Message}");
            logger.LogWarning(e, "Commit during the drain failed; the engine recovers from its last checkpoint");
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        bool completed = notes.Count == 0;
        // Over either way: what failed is in the notes, and the node takes no new writes until it restarts.
        Interlocked.Exchange(ref _state, (int)LifecycleState.Drained);
        logger.LogInformation(
            "Drain {Outcome} in {Seconds:F3} s: {Waited} writes waited for, left cluster {Left}, {HandedOff} keys handed off, committed {Committed}{Notes}",
            completed ? "complete" : "incomplete", elapsed.TotalSeconds, waited, left, handedOff, committed,
            notes.Count == 0 ? "" : "; " + string.Join("; ", notes));
        return new DrainResult(completed, waited, committed, left, handedOff, elapsed, notes);
    }
}
