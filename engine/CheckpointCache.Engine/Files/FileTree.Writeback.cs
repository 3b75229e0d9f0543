using Microsoft.Extensions.Logging;

namespace CheckpointCache.Engine.Files;

/// <summary>
/// The writeback state of a tree. It is not a separate queue file: what is pending follows from the tree itself
/// (a file whose committed version or path differs from what was last persisted, and that the policy selects), and
/// what was persisted is a journal record (<see cref="JournalOp.Persisted"/>). Both are in the same engine store as
/// the commit that made a file pending, so a kill -9 after a commit was acknowledged cannot lose an upload, and a
/// version overwritten or deleted before its upload is simply never pending any more.
/// </summary>
public sealed partial class FileTree
{
    internal const string RestorePrefix = ".cc-restore-";

    private static bool IsRestoreTemp(string name) => name.StartsWith(RestorePrefix, StringComparison.Ordinal);

    /// <summary>Temporary files of restores a crash interrupted: never renamed into place, so nobody refers to them.</summary>
    private async Task RemoveRestoreLeftoversAsync(CancellationToken cancellationToken)
    {
        List<string> leftovers;
        using (await LockAsync(cancellationToken).ConfigureAwait(false))
            leftovers = _nodes.Values.Where(n => n is FileNode && IsRestoreTemp(n.Name) && n.Attached).Select(n => n.PathOf()).ToList();
        foreach (var path in leftovers)
        {
            _logger.LogInformation("Removing {Path} of {Store}, left by a restore from the cold tier that did not finish", path, _ns.Name);
            await DeleteAsync(path, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }

    private void AddCandidate(FileNode file)
    {
        if (_writesBack) _candidates[file.Id] = ++_candidateTicket;
    }

    private void AddCandidates(TreeNode node)
    {
        if (!_writesBack) return;
        if (node is FileNode f)
        {
            AddCandidate(f);
            return;
        }
        var pending = new Stack<TreeNode>();
        pending.Push(node);
        while (pending.Count > 0)
        {
            var n = pending.Pop();
            if (n is FileNode file) AddCandidate(file);
            else if (n is DirectoryNode d) foreach (var child in d.Children.Values) pending.Push(child);
        }
    }

    private static bool IsPersisted(FileNode f, string path) => f.Version > 0 && f.PersistedVersion == f.Version && f.PersistedPath == path;

    /// <summary>The file's current version is still to be uploaded under its current path.</summary>
    private bool IsPending(FileNode f, string path)
        => f.Attached && f.Version > 0 && !IsRestoreTemp(f.Name) && !IsPersisted(f, path) && UploadsHere(f) && _cold!.ShouldPersist(_ns.Name, path);

    private void ApplyPersisted(JournalRecord r)
    {
        if (_nodes.TryGetValue(r.Id, out var node) && node is FileNode file)
        {
            var old = file.PersistedPath;
            file.PersistedVersion = r.Version;
            file.PersistedPath = r.Name;
            // Renamed after its last upload: the copy under the old name is stale.
            if (_writesBack && _cold!.DeleteRemoteOnDelete && old is not null && old != r.Name) _remoteDeletes.Add(old);
            _remoteDeletes.Remove(r.Name);
            CompleteWaiters(file.Id, r.Version, true);
        }
        else if (_writesBack && _cold!.DeleteRemoteOnDelete)
        {
            // Uploaded for a file deleted meanwhile: the copy is an orphan.
            _remoteDeletes.Add(r.Name);
        }
    }

    private void CompleteWaiters(long fileId, long version, bool persisted)
    {
        if (!_persistWaiters.TryGetValue(fileId, out var waiters)) return;
        waiters.RemoveAll(w =>
        {
            if (w.Version > version) return false;
            w.Done.TrySetResult(persisted);
            return true;
        });
        if (waiters.Count == 0) _persistWaiters.Remove(fileId);
    }

    /// <summary>
    /// Waits until version <paramref name="version"/> (or a later one) of file <paramref name="fileId"/> is in the cold tier.
    /// False at once when it never will be (no writeback, not selected by the policy, deleted), or when
    /// <paramref name="timeout"/> passes first.
    /// </summary>
    public async Task<bool> WaitPersistedAsync(long fileId, long version, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        TaskCompletionSource<bool> done;
        using (await LockAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!_writesBack || !_nodes.TryGetValue(fileId, out var node) || node is not FileNode f) return false;
            var path = f.PathOf();
            if (f.PersistedVersion >= version && f.PersistedPath == path) return true;
            if (!IsPending(f, path)) return false;
            done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_persistWaiters.TryGetValue(fileId, out var waiters)) _persistWaiters[fileId] = waiters = [];
            waiters.Add((version, done));
        }
        _writeback?.Wake();
        try
        {
            return await done.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>Whether <paramref name="version"/> of a file is persisted, will be, or will not be.</summary>
    public async Task<PersistState> GetPersistStateAsync(long fileId, long version, CancellationToken cancellationToken = default)
    {
        using var _ = await LockAsync(cancellationToken).ConfigureAwait(false);
        if (!_writesBack || !_nodes.TryGetValue(fileId, out var node) || node is not FileNode f) return PersistState.NotSelected;
        var path = f.PathOf();
        if (f.PersistedVersion >= version && f.PersistedPath == path) return PersistState.Persisted;
        return IsPending(f, path) ? PersistState.Pending : PersistState.NotSelected;
    }

    /// <summary>The next upload or remote delete whose path <paramref name="available"/> accepts, and the backlog as of now.</summary>
    internal WritebackItem? TakeWritebackWork(Func<WritebackItem, bool> available, out long backlogObjects, out long backlogBytes)
    {
        backlogObjects = backlogBytes = 0;
        WritebackItem? chosen = null;
        _gate.Wait();
        try
        {
            foreach (var path in _remoteDeletes.ToList())
            {
                // The name belongs to a file persisted there since: its copy is not stale.
                if (TryResolve(path) is FileNode owner && owner.PersistedPath == path) { _remoteDeletes.Remove(path); continue; }
                var item = new WritebackItem(WritebackKind.RemoteDelete, 0, path, 0);
                if (chosen is null && available(item)) chosen = item;
            }
            long bestTicket = long.MaxValue;
            foreach (var (id, ticket) in _candidates.ToList())
            {
                if (!_nodes.TryGetValue(id, out var node) || node is not FileNode f || !f.Attached) { _candidates.Remove(id); continue; }
                var path = f.PathOf();
                if (!IsPending(f, path)) { _candidates.Remove(id); continue; }
                backlogObjects++;
                backlogBytes += f.Size;
                if (ticket < bestTicket && (chosen is null || chosen.Kind == WritebackKind.Upload))
                {
                    var item = new WritebackItem(WritebackKind.Upload, id, path, f.Size);
                    if (available(item)) { chosen = item; bestTicket = ticket; }
                }
            }
        }
        finally
        {
            _gate.Release();
        }
        return chosen;
    }

    private TreeNode? TryResolve(string path)
    {
        try { return Resolve(Parse(path), path); }
        catch (FilesException) { return null; }
    }

    /// <summary>Records that <paramref name="version"/> of a file is in the cold tier under <paramref name="path"/>.</summary>
    internal async Task MarkPersistedAsync(long fileId, long version, string path, CancellationToken cancellationToken)
    {
        using var _ = await LockAsync(cancellationToken).ConfigureAwait(false);
        await AppendLockedAsync(new JournalRecord(JournalOp.Persisted) { Id = fileId, Version = version, Name = path, ModifiedUnixMs = Now() }, cancellationToken).ConfigureAwait(false);
    }

    internal async Task MarkRemoteDeletedAsync(string path, CancellationToken cancellationToken)
    {
        using var _ = await LockAsync(cancellationToken).ConfigureAwait(false);
        if (!_remoteDeletes.Contains(path)) return;
        await AppendLockedAsync(new JournalRecord(JournalOp.RemoteDeleted) { Name = path, ModifiedUnixMs = Now() }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The writeback queue's backlog and counters (zeros without writeback).</summary>
    public WritebackStats GetWritebackStats()
    {
        var counters = _writeback?.Counters ?? new WritebackCounters();
        var restored = _restorer?.Counters ?? new WritebackCounters();
        long objects = 0, bytes = 0, deletes = 0;
        if (_writeback is not null)
        {
            _writeback.RefreshBacklog();
            (objects, bytes) = _writeback.Backlog;
            _gate.Wait();
            try { deletes = _remoteDeletes.Count; }
            finally { _gate.Release(); }
        }
        return new WritebackStats
        {
            BacklogObjects = objects, BacklogBytes = bytes, PendingRemoteDeletes = deletes,
            UploadedObjects = Interlocked.Read(ref counters.UploadedObjects), UploadedBytes = Interlocked.Read(ref counters.UploadedBytes),
            Failures = Interlocked.Read(ref counters.Failures), RemoteDeletes = Interlocked.Read(ref counters.RemoteDeletes),
            RestoredObjects = Interlocked.Read(ref restored.RestoredObjects), RestoredBytes = Interlocked.Read(ref restored.RestoredBytes),
        };
    }

    /// <summary>Tells the writeback queue that something may have become pending.</summary>
    internal void WakeWriteback() => _writeback?.Wake();

    /// <summary>
    /// Restores every object of the cold tier under <paramref name="prefix"/> that this node does not hold, reporting
    /// progress after each; objects held here already are skipped (the local copy is as new or newer).
    /// </summary>
    public Task<PrefetchProgress> PrefetchAsync(string prefix, int parallelism, IProgress<PrefetchProgress>? progress, CancellationToken cancellationToken = default)
    {
        if (_restorer is null) throw new FilesException(FilesErrorCode.InvalidArgument, $"store '{_ns.Name}' has no cold tier to prefetch from (Cloud:Enabled is false)");
        return _restorer.PrefetchAsync(prefix, parallelism, progress, cancellationToken);
    }
}
