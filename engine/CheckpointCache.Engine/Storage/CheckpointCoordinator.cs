using FASTER.core;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Engine.Storage;

/// <summary>
/// Serialises FASTER checkpoints for one store and coalesces commits: every caller waiting when a
/// checkpoint starts is covered by it, so a burst of fsyncs costs one or two checkpoints, not one
/// each. A fold-over checkpoint flushes the log up to the tail; every so often it also writes the
/// hash index so recovery replays a bounded stretch of log.
/// </summary>
internal sealed class CheckpointCoordinator
{
    private readonly NamespaceStore _store;
    private readonly long _indexInterval;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private long _requested;
    private long _completed;
    private long _lastIndexTail = -1;
    private long _lastTail = -1;
    private long _lastBegin = -1;

    public CheckpointCoordinator(NamespaceStore store, long indexIntervalBytes, ILogger logger)
    {
        _store = store;
        _indexInterval = indexIntervalBytes;
        _logger = logger;
        DurableBeginAddress = store.BeginAddress;
        // An empty log needs no index checkpoint: recovery without one rebuilds the index from the log's begin
        // address, a stretch the interval bounds all the same. So a new store's first commit only flushes the log
        // (writing the index took about 90 ms of the first commit after 768 MiB of ingest).
        if (store.TailAddress == store.BeginAddress) _lastIndexTail = store.BeginAddress;
    }

    /// <summary>The begin address the last checkpoint recorded: segments below it have been deleted.</summary>
    public long DurableBeginAddress { get; private set; }

    public long Checkpoints { get; private set; }

    /// <summary>Returns once every write that completed before the call is durable.</summary>
    public async ValueTask CommitAsync(CancellationToken cancellationToken)
    {
        long ticket = Interlocked.Increment(ref _requested);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Interlocked.Read(ref _completed) >= ticket) return;
            long covers = Interlocked.Read(ref _requested);
            await CheckpointLockedAsync(force: true).ConfigureAwait(false);
            Interlocked.Exchange(ref _completed, covers);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Makes the next checkpoint include the hash index. After a compaction moved live records and the begin address,
    /// recovery must not rebuild the index by replaying the log from an index checkpoint older than the move (its
    /// segments are gone).
    /// </summary>
    public void IncludeIndexNext() => _lastIndexTail = -1;

    /// <summary>Periodic checkpoint: skipped when nothing changed since the last one.</summary>
    public async ValueTask CheckpointIfChangedAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await CheckpointLockedAsync(force: false).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Waits for FASTER's checkpoint to reach rest, driving it from a session of ours between short sleeps.
    /// FASTER's own CompleteCheckpointAsync polls in a busy loop whenever it has no flush to await (while the
    /// sessions mark their phases); behind a burst of writes, that loop and the writers retrying beside it held both
    /// cores of a small machine for seconds and starved the I/O threads the checkpoint's flush needed: the mount's
    /// writes fell from about 400 to 63-178 MB/s in 6 of 23 checkpoint benchmark runs, the node at 1.4-1.75 cores.
    /// </summary>
    /// <param name="startedAt">The version before our checkpoint started, which it moves on (its first phase may not
    /// have begun yet); -1 to wait for whatever checkpoint is running.</param>
    private async ValueTask WaitForRestAsync(long startedAt)
    {
        var faster = _store.Faster;
        bool Done() => faster.SystemState.Phase == Phase.REST && faster.SystemState.Version > startedAt;
        var session = _store.RentSession();
        try
        {
            while (!Done())
            {
                // Marks this session's part of the current phase and moves the state machine on when all have.
                session.Refresh();
                if (Done()) break;
                await Task.Delay(1).ConfigureAwait(false);
            }
        }
        finally
        {
            _store.ReturnSession(session);
        }
    }

    private async ValueTask CheckpointLockedAsync(bool force)
    {
        var faster = _store.Faster;
        long tail = faster.Log.TailAddress;
        long begin = faster.Log.BeginAddress;
        if (!force && tail == _lastTail && begin == _lastBegin) return;
        bool withIndex = _lastIndexTail < 0 || tail - _lastIndexTail >= _indexInterval;
        _store.Fence.Raise();
        try
        {
            await RunCheckpointAsync(withIndex, begin, tail).ConfigureAwait(false);
        }
        finally
        {
            _store.Fence.Lower();
        }
        if (withIndex) _lastIndexTail = tail;
        _lastTail = tail;
        _lastBegin = begin;
        DurableBeginAddress = begin;
        Checkpoints++;
    }

    private async ValueTask RunCheckpointAsync(bool withIndex, long begin, long tail)
    {
        var faster = _store.Faster;
        for (int attempt = 0; ; attempt++)
        {
            Guid token;
            long version = faster.SystemState.Version;
            bool ok = withIndex
                ? faster.TryInitiateFullCheckpoint(out token, CheckpointType.FoldOver)
                : faster.TryInitiateHybridLogCheckpoint(out token, CheckpointType.FoldOver);
            // Ours, or (when ours could not start) another one FASTER runs: let it finish.
            await WaitForRestAsync(ok ? version : -1).ConfigureAwait(false);
            if (ok)
            {
                _logger.LogDebug("Checkpoint {Token} of {Namespace} covers {Begin}..{Tail} (index: {WithIndex})", token, _store.Name, begin, tail, withIndex);
                break;
            }
            if (attempt > 100) throw new InvalidOperationException($"checkpoint of namespace '{_store.Name}' could not start");
        }
    }
}
