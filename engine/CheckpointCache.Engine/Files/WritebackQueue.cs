using Microsoft.Extensions.Logging;

namespace CheckpointCache.Engine.Files;

/// <summary>
/// Uploads what the tree says is pending, a few objects at a time, and deletes stale remote copies. Nothing here is
/// the queue's memory: the tree (and its journal) is, so a restart finds the same backlog. A failed item waits a
/// jittered, doubling delay (capped by the cold tier's MaxRetryDelay) and is tried again, for as long as it takes:
/// an outage of the cold tier only grows the backlog. One item per path is in flight at a time, so an upload and a
/// delete of the same name never race.
/// </summary>
internal sealed class WritebackQueue : IAsyncDisposable
{
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan IdlePoll = TimeSpan.FromSeconds(1);

    private readonly FileTree _tree;
    private readonly IColdTier _cold;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly object _lock = new();
    private readonly HashSet<string> _busyPaths = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (int Failures, DateTime RetryAt)> _retries = [];
    private readonly Task _loop;
    private long _backlogObjects, _backlogBytes;

    public WritebackQueue(FileTree tree, IColdTier cold, ILogger logger)
    {
        _tree = tree;
        _cold = cold;
        _logger = logger;
        _loop = Task.Run(RunAsync);
    }

    public WritebackCounters Counters { get; } = new();

    public (long Objects, long Bytes) Backlog => (Interlocked.Read(ref _backlogObjects), Interlocked.Read(ref _backlogBytes));

    /// <summary>One pending wake is enough: a burst of commits costs the loop one pass, not one per commit.</summary>
    public void Wake()
    {
        if (_wake.CurrentCount == 0)
        {
            try { _wake.Release(); }
            catch (SemaphoreFullException) { }
        }
    }

    public void RefreshBacklog()
    {
        lock (_lock)
        {
            _tree.TakeWritebackWork(_ => false, out var objects, out var bytes);
            Interlocked.Exchange(ref _backlogObjects, objects);
            Interlocked.Exchange(ref _backlogBytes, bytes);
        }
    }

    private bool Available(WritebackItem item)
    {
        if (_busyPaths.Contains(item.Path)) return false;
        return !_retries.TryGetValue(item.Key, out var retry) || retry.RetryAt <= DateTime.UtcNow;
    }

    private async Task RunAsync()
    {
        var running = new List<Task>();
        var ct = _stop.Token;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                while (running.Count < Math.Max(1, _cold.ConcurrentUploads))
                {
                    WritebackItem? item;
                    lock (_lock)
                    {
                        item = _tree.TakeWritebackWork(Available, out var objects, out var bytes);
                        Interlocked.Exchange(ref _backlogObjects, objects);
                        Interlocked.Exchange(ref _backlogBytes, bytes);
                        if (item is not null) _busyPaths.Add(item.Path);
                    }
                    if (item is null) break;
                    running.Add(Task.Run(() => ProcessAsync(item, ct), CancellationToken.None));
                }
                var wake = _wake.WaitAsync(IdlePoll, ct);
                await Task.WhenAny([wake, .. running]).ConfigureAwait(false);
                running.RemoveAll(t => t.IsCompleted);
                if (wake.IsCompleted) await wake.ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        try { await Task.WhenAll(running).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
    }

    private async Task ProcessAsync(WritebackItem item, CancellationToken ct)
    {
        try
        {
            if (item.Kind == WritebackKind.Upload) await UploadAsync(item, ct).ConfigureAwait(false);
            else await DeleteAsync(item, ct).ConfigureAwait(false);
            lock (_lock) _retries.Remove(item.Key);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref Counters.Failures);
            int failures;
            TimeSpan delay;
            lock (_lock)
            {
                failures = _retries.TryGetValue(item.Key, out var r) ? r.Failures + 1 : 1;
                var cap = _cold.MaxRetryDelay > TimeSpan.Zero ? _cold.MaxRetryDelay : TimeSpan.FromSeconds(30);
                var doubled = FirstRetryDelay * Math.Pow(2, Math.Min(failures - 1, 20));
                delay = (doubled < cap ? doubled : cap) * (0.5 + Random.Shared.NextDouble() / 2);
                _retries[item.Key] = (failures, DateTime.UtcNow + delay);
            }
            // The first failure is worth a warning; an outage repeats it for every retry, which is only debug detail.
            if (failures == 1)
                _logger.LogWarning("Writeback {Kind} of {Path} in {Store} failed, retrying in {DelayMs:F0} ms and then with backoff: {Error}",
                    item.Kind, item.Path, _tree.NamespaceName, delay.TotalMilliseconds, e.Message);
            else
                _logger.LogDebug("Writeback {Kind} of {Path} failed {Failures} times, next try in {DelayMs:F0} ms: {Error}", item.Kind, item.Path, failures, delay.TotalMilliseconds, e.Message);
        }
        finally
        {
            lock (_lock) _busyPaths.Remove(item.Path);
            Wake();
        }
    }

    private async Task UploadAsync(WritebackItem item, CancellationToken ct)
    {
        FileSession session;
        try
        {
            // A read session keeps the version's blocks from being reaped while they are uploaded.
            session = await _tree.OpenByIdAsync(item.FileId, OpenMode.Read, ct).ConfigureAwait(false);
        }
        catch (FilesException e) when (e.Code == FilesErrorCode.NotFound)
        {
            return; // deleted since it was picked: nothing to upload
        }
        try
        {
            var path = session.Path;
            if (path.Length == 0) return;
            long version = session.Version, size = session.Size;
            await using (var content = new SessionReadStream(session))
                await _cold.UploadAsync(_tree.NamespaceName, path, version, size, content, ct).ConfigureAwait(false);
            await _tree.MarkPersistedAsync(item.FileId, version, path, ct).ConfigureAwait(false);
            Interlocked.Increment(ref Counters.UploadedObjects);
            Interlocked.Add(ref Counters.UploadedBytes, size);
            _logger.LogDebug("Persisted {Path} version {Version} ({Bytes} bytes) of {Store}", path, version, size, _tree.NamespaceName);
        }
        finally
        {
            await session.CloseAsync(commit: false, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private async Task DeleteAsync(WritebackItem item, CancellationToken ct)
    {
        await _cold.DeleteAsync(_tree.NamespaceName, item.Path, ct).ConfigureAwait(false);
        await _tree.MarkRemoteDeletedAsync(item.Path, ct).ConfigureAwait(false);
        Interlocked.Increment(ref Counters.RemoteDeletes);
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        await _loop.ConfigureAwait(false);
    }
}
