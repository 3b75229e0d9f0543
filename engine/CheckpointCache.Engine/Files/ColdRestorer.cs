using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Engine.Files;

/// <summary>
/// Read-through and prefetch: copies objects from the cold tier into the tree. An object is written to a hidden
/// temporary name in its directory, committed, marked persisted, and only then renamed into place (no-replace), so
/// a reader sees the whole restored file or none, and a file written here meanwhile wins. One restore per path runs
/// at a time; a path found absent is not asked about again for the cold tier's NegativeCacheTime.
/// </summary>
internal sealed class ColdRestorer(FileTree tree, IColdTier cold, ILogger logger)
{
    private readonly ConcurrentDictionary<string, Task<bool>> _inflight = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTime> _absentUntil = new(StringComparer.Ordinal);

    public WritebackCounters Counters { get; } = new();

    /// <summary>Restores <paramref name="path"/> when the cold tier has it; false when it does not (or cannot be reached).</summary>
    public async Task<bool> RestoreAsync(string path, CancellationToken cancellationToken)
    {
        var names = FilePath.Parse(path, tree.Options.MaxPathBytes, tree.Options.MaxNameBytes);
        if (names.Count == 0 || names.Any(n => n.StartsWith(FileTree.RestorePrefix, StringComparison.Ordinal))) return false;
        var canonical = FilePath.Join(names);
        if (_absentUntil.TryGetValue(canonical, out var until))
        {
            if (until > DateTime.UtcNow) return false;
            _absentUntil.TryRemove(canonical, out _);
        }
        var task = _inflight.GetOrAdd(canonical, p => RunOnceAsync(p));
        return await task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<bool> RunOnceAsync(string path)
    {
        await Task.Yield();
        try
        {
            bool found = await RestoreCoreAsync(path, CancellationToken.None).ConfigureAwait(false);
            if (!found && cold.NegativeCacheTime > TimeSpan.Zero) _absentUntil[path] = DateTime.UtcNow + cold.NegativeCacheTime;
            return found;
        }
        catch (ColdTierException e)
        {
            logger.LogError("Restoring {Path} of {Store} from the cold tier failed verification: {Error}", path, tree.NamespaceName, e.Message);
            throw new FilesException(FilesErrorCode.DataLost, $"'{path}' is in the cold tier but failed verification: {e.Message}", e);
        }
        catch (Exception e) when (e is not FilesException)
        {
            // An unreachable cold tier makes a miss a miss: existence checks of absent files must not turn into errors.
            logger.LogWarning("Read-through of {Path} of {Store} could not reach the cold tier: {Error}", path, tree.NamespaceName, e.Message);
            return false;
        }
        finally
        {
            _inflight.TryRemove(path, out _);
        }
    }

    /// <summary>Downloads one object into place; false when the cold tier has no object for the path.</summary>
    private async Task<bool> RestoreCoreAsync(string path, CancellationToken cancellationToken)
    {
        string directory = FilePath.DirectoryOf(path);
        string temp = FileTree.TempNameIn(directory);
        FileSession? session = null;
        bool done = false;
        try
        {
            var info = await cold.DownloadAsync(tree.NamespaceName, path, async (offset, data, ct) =>
            {
                session ??= await tree.CreateTempAsync(directory, temp, ct).ConfigureAwait(false);
                await session.WriteAsync(offset, data, ct).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
            if (info is null) return false;
            session ??= await tree.CreateTempAsync(directory, temp, cancellationToken).ConfigureAwait(false);
            if (session.Size != info.Size) await session.TruncateAsync(info.Size, cancellationToken).ConfigureAwait(false);
            await session.CommitAsync(cancellationToken).ConfigureAwait(false);
            // Marked persisted before the rename, so the restored file is never queued for upload.
            await tree.MarkPersistedAsync(session.FileId, session.Version, path, cancellationToken).ConfigureAwait(false);
            await session.CloseAsync(commit: false, cancellationToken).ConfigureAwait(false);
            try
            {
                await tree.RenameAsync(temp, path, noReplace: true, cancellationToken).ConfigureAwait(false);
            }
            catch (FilesException e) when (e.Code == FilesErrorCode.AlreadyExists)
            {
                // Written here while it was restored: the local file is newer.
                await tree.DeleteAsync(temp, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            done = true;
            Interlocked.Increment(ref Counters.RestoredObjects);
            Interlocked.Add(ref Counters.RestoredBytes, info.Size);
            logger.LogInformation("Restored {Path} ({Bytes} bytes) of {Store} from the cold tier", path, info.Size, tree.NamespaceName);
            return true;
        }
        finally
        {
            if (!done && session is not null)
            {
                await session.CloseAsync(commit: false, CancellationToken.None).ConfigureAwait(false);
                try { await tree.DeleteAsync(temp, cancellationToken: CancellationToken.None).ConfigureAwait(false); }
                catch (FilesException) { }
            }
        }
    }

    public async Task<PrefetchProgress> PrefetchAsync(string prefix, int parallelism, IProgress<PrefetchProgress>? progress, CancellationToken cancellationToken)
    {
        var names = FilePath.Parse(prefix, tree.Options.MaxPathBytes, tree.Options.MaxNameBytes);
        // "/ckpt/step-5" matches itself and what is under it, not "/ckpt/step-50".
        var canonical = FilePath.Join(names);
        var objects = new List<ColdObjectInfo>();
        await foreach (var o in cold.ListAsync(tree.NamespaceName, canonical, cancellationToken).ConfigureAwait(false))
            if (canonical == "/" || o.Path == canonical || o.Path.StartsWith(canonical + "/", StringComparison.Ordinal)) objects.Add(o);
        var state = new PrefetchProgress { ObjectsTotal = objects.Count, BytesTotal = objects.Sum(o => o.Size), ListingDone = true };
        var gate = new object();
        progress?.Report(state);
        await Parallel.ForEachAsync(objects, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, parallelism), CancellationToken = cancellationToken }, async (o, ct) =>
        {
            bool skipped = false, failed = false;
            try
            {
                if (await tree.ExistsLocallyAsync(o.Path, ct).ConfigureAwait(false)) skipped = true;
                else failed = !await RestoreAsync(o.Path, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("Prefetch of {Path} of {Store} failed: {Error}", o.Path, tree.NamespaceName, e.Message);
                failed = true;
            }
            PrefetchProgress now;
            lock (gate)
            {
                state = state with
                {
                    ObjectsDone = state.ObjectsDone + 1,
                    BytesDone = state.BytesDone + o.Size,
                    ObjectsSkipped = state.ObjectsSkipped + (skipped ? 1 : 0),
                    ObjectsFailed = state.ObjectsFailed + (failed ? 1 : 0),
                    CurrentPath = o.Path,
                };
                now = state;
            }
            progress?.Report(now);
        }).ConfigureAwait(false);
        return state;
    }
}
