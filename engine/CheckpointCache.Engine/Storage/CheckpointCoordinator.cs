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

    private async ValueTask CheckpointLockedAsync(bool force)
    {
        var faster = _store.Faster;
        long tail = faster.Log.TailAddress;
        long begin = faster.Log.BeginAddress;
        if (!force && tail == _lastTail && begin == _lastBegin) return;
        bool withIndex = _lastIndexTail < 0 || tail - _lastIndexTail >= _indexInterval;
        for (int attempt = 0; ; attempt++)
        {
            var (ok, token) = withIndex
                ? await faster.TakeFullCheckpointAsync(CheckpointType.FoldOver).ConfigureAwait(false)
                : await faster.TakeHybridLogCheckpointAsync(CheckpointType.FoldOver).ConfigureAwait(false);
            if (ok)
            {
                await faster.CompleteCheckpointAsync().ConfigureAwait(false);
                _logger.LogDebug("Checkpoint {Token} of {Namespace} covers {Begin}..{Tail} (index: {WithIndex})", token, _store.Name, begin, tail, withIndex);
                break;
            }
            // Another checkpoint (FASTER-internal) is running: let it finish and take ours after it.
            await faster.CompleteCheckpointAsync().ConfigureAwait(false);
            if (attempt > 100) throw new InvalidOperationException($"checkpoint of namespace '{_store.Name}' could not start");
        }
        if (withIndex) _lastIndexTail = tail;
        _lastTail = tail;
        _lastBegin = begin;
        DurableBeginAddress = begin;
        Checkpoints++;
    }
}
