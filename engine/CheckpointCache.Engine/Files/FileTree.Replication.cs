using Microsoft.Extensions.Logging;

namespace CheckpointCache.Engine.Files;

/// <summary>
/// What a replicated store adds to the tree: every version carries a <see cref="FileStamp"/>, deletes and renames
/// leave tombstones, copies from other nodes are written under a hidden name and renamed into place only when they
/// are newer than what is here (one journal record, so a reader never sees a torn file and the stamp survives a
/// restart), and a miss asks the other holders before the cold tier. The <see cref="IFileReplicator"/> moves the
/// bytes; the tree only decides what is newer.
/// </summary>
public sealed partial class FileTree
{
    private static readonly TimeSpan DefaultTombstoneRetention = TimeSpan.FromDays(1);
    // All under the gate, like the rest of the tree.
    private IFileReplicator? _replicator;
    private string _origin = "";
    private long _clock;
    private readonly Dictionary<string, Tombstone> _tombstones = new(StringComparer.Ordinal);
    private readonly HashSet<long> _adopted = [];

    /// <summary>The replicator of this store; null when the store is not replicated.</summary>
    public IFileReplicator? Replicator => _replicator;

    /// <summary>Makes this store replicated; done once, after opening and before the node serves calls.</summary>
    public void AttachReplicator(IFileReplicator replicator)
    {
        if (_replicator is not null) throw new InvalidOperationException($"store '{_ns.Name}' already has a replicator");
        _origin = replicator.Origin;
        _replicator = replicator;
    }

    private bool ReadsThrough => _replicator is not null || _restorer is not null;

    /// <summary>A local miss: the other holders first (they have the newest copy), then the cold tier.</summary>
    private async Task<bool> ReadThroughAsync(string path, CancellationToken cancellationToken)
    {
        var names = Parse(path);
        if (names.Count == 0 || names.Any(IsRestoreTemp)) return false;
        var canonical = FilePath.Join(names);
        if (_replicator is not null)
        {
            if (await _replicator.FetchAsync(this, canonical, cancellationToken).ConfigureAwait(false)) return true;
            // Deleted in the cluster: an older copy still in the cold tier must not bring it back.
            using (await LockAsync(cancellationToken).ConfigureAwait(false))
                if (_tombstones.ContainsKey(canonical)) return false;
        }
        return _restorer is not null && await _restorer.RestoreAsync(path, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A file created in a directory whose files all live on other nodes: the directory is made here first.</summary>
    private async Task EnsureParentAsync(string path, CancellationToken cancellationToken)
    {
        var names = Parse(path);
        if (names.Count < 2) return;
        var parent = FilePath.Join(names.Take(names.Count - 1));
        if (!await ExistsLocallyAsync(parent, cancellationToken).ConfigureAwait(false)) await ReadThroughAsync(parent, cancellationToken).ConfigureAwait(false);
    }

    private FileStamp NextStamp()
    {
        _clock = Math.Max(_clock + 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000);
        return new FileStamp(_clock, _origin);
    }

    private void Observe(FileStamp stamp) => _clock = Math.Max(_clock, stamp.Clock);

    /// <summary>The stamp as others see it: versions written before the store was replicated count as this node's.</summary>
    private FileStamp StampOf(FileNode f) => f.Stamp.Origin is { Length: > 0 } ? f.Stamp : f.Stamp with { Origin = _origin };

    private void SetStamp(FileNode file, FileStamp stamp)
    {
        Observe(stamp);
        file.Stamp = stamp;
        file.Replicas = 0;
        if (_tombstones.Count > 0 && file.Attached && _tombstones.TryGetValue(file.PathOf(), out var t) && stamp.IsNewerThan(t.Stamp))
            _tombstones.Remove(t.Path);
    }

    private void AddTombstone(string path, FileStamp stamp, long atUnixMs)
    {
        Observe(stamp);
        if (IsRestoreTemp(path[(path.LastIndexOf('/') + 1)..])) return;
        if (!_tombstones.TryGetValue(path, out var t) || stamp.IsNewerThan(t.Stamp)) _tombstones[path] = new Tombstone(path, stamp, atUnixMs);
    }

    private void PruneTombstones()
    {
        long cutoff = Now() - (long)(_replicator?.TombstoneRetention ?? DefaultTombstoneRetention).TotalMilliseconds;
        foreach (var t in _tombstones.Values.Where(t => t.AtUnixMs < cutoff).ToList()) _tombstones.Remove(t.Path);
    }

    /// <summary>Only one node uploads a version: the one that wrote it, or one that took the upload over from a writer that left.</summary>
    private bool UploadsHere(FileNode f) => _replicator is null || f.Stamp.Origin.Length == 0 || f.Stamp.Origin == _origin || _adopted.Contains(f.Id);

    private static IEnumerable<FileNode> FilesUnder(TreeNode node)
    {
        var pending = new Stack<TreeNode>();
        pending.Push(node);
        while (pending.Count > 0)
        {
            var n = pending.Pop();
            if (n is FileNode f) yield return f;
            else if (n is DirectoryNode d) foreach (var child in d.Children.Values) pending.Push(child);
        }
    }

    private async Task NotifyAsync(Func<IFileReplicator, Task> call, string what, string path)
    {
        try
        {
            await call(_replicator!).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The change stands here; rebalancing brings the other holders in line.
            _logger.LogWarning("Telling the other holders of {Store} about the {Operation} of {Path} failed: {Error}", _ns.Name, what, path, e.Message);
        }
    }

    internal static string TempNameIn(string directory)
        => (directory == "/" ? "/" : directory + "/") + RestorePrefix + Random.Shared.NextInt64().ToString("x16");

    /// <summary>A hidden file to write a restored or copied version into before it is renamed into place.</summary>
    internal async Task<FileSession> CreateTempAsync(string directory, string temp, CancellationToken cancellationToken)
    {
        if (directory != "/") await MkdirAsync(directory, parents: true, cancellationToken: cancellationToken).ConfigureAwait(false);
        return await OpenLocalAsync(temp, OpenMode.ReadWrite | OpenMode.Create | OpenMode.Exclusive, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>After a local commit: copies the version to the other holders; returns how many hold it (0: the store is not replicated).</summary>
    internal async Task<int> ReplicateCommittedAsync(FileNode file, CancellationToken cancellationToken)
    {
        if (_replicator is null || IsRestoreTemp(file.Name)) return 0;
        CommittedFile committed;
        using (await LockAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!file.Attached || file.Version == 0) return 0;
            committed = new CommittedFile(OpenLocked(file, OpenMode.Read, created: false), file.PathOf(), StampOf(file));
        }
        int holders;
        try
        {
            holders = await _replicator.ReplicateAsync(this, committed, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogWarning("Replicating {Path} of {Store} failed: {Error}", committed.Path, _ns.Name, e.Message);
            holders = 1;
        }
        finally
        {
            await committed.DisposeAsync().ConfigureAwait(false);
        }
        if (StampOf(file) == committed.Stamp) file.Replicas = holders;
        return holders;
    }

    /// <summary>The committed version at <paramref name="path"/> opened for copying; null when no committed file is there.</summary>
    public async Task<CommittedFile?> OpenCommittedAsync(string path, CancellationToken cancellationToken = default)
    {
        var names = Parse(path);
        using var _ = await LockAsync(cancellationToken).ConfigureAwait(false);
        if (TryResolve(path) is not FileNode f || f.Version == 0 || IsRestoreTemp(f.Name)) return null;
        return new CommittedFile(OpenLocked(f, OpenMode.Read, created: false), FilePath.Join(names), StampOf(f));
    }

    /// <summary>Whether a copy of <paramref name="path"/> with <paramref name="stamp"/> would be taken: nothing as new is here, and no newer tombstone.</summary>
    private bool AcceptsLocked(string path, FileStamp stamp)
    {
        if (_tombstones.TryGetValue(path, out var t) && !stamp.IsNewerThan(t.Stamp)) return false;
        return TryResolve(path) switch
        {
            FileNode f => stamp.IsNewerThan(StampOf(f)),
            DirectoryNode => false,
            _ => true,
        };
    }

    /// <summary>
    /// Starts taking a copy made on another node; null when this node already holds that version or a newer one, or
    /// deleted the path later. The copy is invisible until <see cref="ReplicaWriter.CompleteAsync"/> installs it.
    /// </summary>
    public async Task<ReplicaWriter?> BeginReplicaAsync(string path, FileStamp stamp, CancellationToken cancellationToken = default)
    {
        var names = Parse(path);
        if (names.Count == 0 || names.Any(IsRestoreTemp)) throw new FilesException(FilesErrorCode.InvalidArgument, $"'{path}' cannot be replicated");
        var canonical = FilePath.Join(names);
        using (await LockAsync(cancellationToken).ConfigureAwait(false))
        {
            Observe(stamp);
            if (!AcceptsLocked(canonical, stamp)) return null;
        }
        var directory = FilePath.DirectoryOf(canonical);
        var temp = TempNameIn(directory);
        var session = await CreateTempAsync(directory, temp, cancellationToken).ConfigureAwait(false);
        return new ReplicaWriter(this, canonical, temp, stamp, session);
    }

    /// <summary>Renames a committed copy into place with its stamp, unless something as new arrived meanwhile.</summary>
    internal async Task<bool> InstallReplicaAsync(string temp, string path, FileStamp stamp, CancellationToken cancellationToken)
    {
        List<BlockRef> garbage;
        using (await LockAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!AcceptsLocked(path, stamp) || TryResolve(temp) is not FileNode copy) return false;
            garbage = await AppendStampedRenameLockedAsync(copy, Parse(path), path, stamp, cancellationToken).ConfigureAwait(false);
        }
        return await DurableAsync(garbage, cancellationToken).ConfigureAwait(false);
    }

    private Task<List<BlockRef>> AppendStampedRenameLockedAsync(FileNode file, IReadOnlyList<string> target, string path, FileStamp stamp, CancellationToken cancellationToken)
        => AppendLockedAsync(new JournalRecord(JournalOp.Rename)
        {
            ParentId = file.Parent!.Id, Name = file.Name, TargetParentId = ResolveParent(target, path).Id, TargetName = target[^1], ModifiedUnixMs = Now(), Stamp = stamp,
        }, cancellationToken);

    /// <summary>Frees what a change made garbage and makes the change durable before the peer that asked for it is answered.</summary>
    private async Task<bool> DurableAsync(List<BlockRef> garbage, CancellationToken cancellationToken)
    {
        _reaper.Enqueue(garbage);
        await CommitEngineAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>A delete made on another node: removes an older copy here and keeps a tombstone. False when the copy here is newer.</summary>
    public async Task<bool> ApplyRemoteDeleteAsync(string path, FileStamp stamp, CancellationToken cancellationToken = default)
    {
        var names = Parse(path);
        var canonical = FilePath.Join(names);
        List<BlockRef> garbage = [];
        using (await LockAsync(cancellationToken).ConfigureAwait(false))
        {
            if (names.Count == 0) return false;
            switch (TryResolve(canonical))
            {
                case FileNode f when !stamp.IsNewerThan(StampOf(f)):
                    return false;
                case FileNode f:
                    garbage = await AppendLockedAsync(new JournalRecord(JournalOp.Delete) { ParentId = f.Parent!.Id, Name = f.Name, ModifiedUnixMs = Now(), Stamp = stamp }, cancellationToken).ConfigureAwait(false);
                    break;
                case DirectoryNode:
                    return false;
                default:
                    if (_tombstones.TryGetValue(canonical, out var t) && !stamp.IsNewerThan(t.Stamp)) return true;
                    await AppendLockedAsync(new JournalRecord(JournalOp.Tombstone) { Name = canonical, ModifiedUnixMs = Now(), Stamp = stamp }, cancellationToken).ConfigureAwait(false);
                    break;
            }
        }
        return await DurableAsync(garbage, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A rename within one directory made on another node, applied to the copy here; false when there is no older copy to move.</summary>
    public async Task<bool> ApplyRemoteRenameAsync(string source, string target, FileStamp stamp, CancellationToken cancellationToken = default)
    {
        var from = Parse(source);
        var to = Parse(target);
        List<BlockRef> garbage;
        using (await LockAsync(cancellationToken).ConfigureAwait(false))
        {
            Observe(stamp);
            if (from.Count == 0 || to.Count == 0 || TryResolve(source) is not FileNode f || !stamp.IsNewerThan(StampOf(f))) return false;
            var targetPath = FilePath.Join(to);
            if (!AcceptsLocked(targetPath, stamp)) return false;
            garbage = await AppendStampedRenameLockedAsync(f, to, target, stamp, cancellationToken).ConfigureAwait(false);
        }
        return await DurableAsync(garbage, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Drops this node's copy of a version others hold (no tombstone: the file lives on elsewhere): the copy stamped
    /// <paramref name="stamp"/>, or with <paramref name="olderToo"/> any copy older than it. False when there is no such
    /// copy, or it is open.
    /// </summary>
    public async Task<bool> DropReplicaAsync(string path, FileStamp stamp, bool olderToo = false, CancellationToken cancellationToken = default)
    {
        List<BlockRef> garbage;
        using (await LockAsync(cancellationToken).ConfigureAwait(false))
        {
            if (TryResolve(path) is not FileNode f || f.OpenSessions > 0) return false;
            var held = StampOf(f);
            if (held != stamp && !(olderToo && stamp.IsNewerThan(held))) return false;
            garbage = await AppendLockedAsync(new JournalRecord(JournalOp.Delete) { ParentId = f.Parent!.Id, Name = f.Name, ModifiedUnixMs = Now() }, cancellationToken).ConfigureAwait(false);
        }
        _reaper.Enqueue(garbage);
        return true;
    }

    /// <summary>The files, subdirectories and tombstones directly in <paramref name="directory"/>, as other nodes are told.</summary>
    public async Task<(IReadOnlyList<ReplicaEntry> Entries, bool DirectoryExists)> ListReplicaEntriesAsync(string directory, CancellationToken cancellationToken = default)
    {
        var canonical = FilePath.Join(Parse(directory));
        var entries = new List<ReplicaEntry>();
        using var _ = await LockAsync(cancellationToken).ConfigureAwait(false);
        var dir = TryResolve(canonical) as DirectoryNode;
        string prefix = canonical == "/" ? "/" : canonical + "/";
        if (dir is not null)
        {
            foreach (var child in dir.Children.Values)
            {
                if (IsRestoreTemp(child.Name)) continue;
                if (child is FileNode f && f.Version > 0) entries.Add(new ReplicaEntry(prefix + f.Name, StampOf(f), f.Size, Tombstone: false));
                else if (child is DirectoryNode) entries.Add(new ReplicaEntry(prefix + child.Name, FileStamp.None, 0, Tombstone: false, IsDirectory: true));
            }
        }
        foreach (var t in _tombstones.Values)
            if (FilePath.DirectoryOf(t.Path) == canonical) entries.Add(new ReplicaEntry(t.Path, t.Stamp, 0, Tombstone: true));
        return (entries, dir is not null);
    }

    /// <summary>Every committed file held here with its stamp (what rebalancing checks against the owners).</summary>
    public async Task<IReadOnlyList<ReplicaEntry>> ListHeldFilesAsync(CancellationToken cancellationToken = default)
    {
        using var _ = await LockAsync(cancellationToken).ConfigureAwait(false);
        return FilesUnder(_root).Where(f => f.Version > 0 && !IsRestoreTemp(f.Name)).Select(f => new ReplicaEntry(f.PathOf(), StampOf(f), f.Size, Tombstone: false)).ToList();
    }

    /// <summary>
    /// Takes over the uploads of copies whose writer left the cluster, for the files <paramref name="adopt"/> selects.
    /// Not journaled: rebalancing decides again after every restart. Returns the files taken over.
    /// </summary>
    public async Task<int> AdoptUploadsAsync(Func<ReplicaEntry, bool> adopt, CancellationToken cancellationToken = default)
    {
        if (!_writesBack) return 0;
        int adopted = 0;
        using (await LockAsync(cancellationToken).ConfigureAwait(false))
        {
            foreach (var f in FilesUnder(_root))
            {
                if (f.Version == 0 || UploadsHere(f) || IsRestoreTemp(f.Name)) continue;
                if (!adopt(new ReplicaEntry(f.PathOf(), f.Stamp, f.Size, Tombstone: false))) continue;
                _adopted.Add(f.Id);
                AddCandidate(f);
                adopted++;
            }
        }
        if (adopted > 0) WakeWriteback();
        return adopted;
    }

    /// <summary>A listing of a replicated store: what is here merged with what the directory's other holders have.</summary>
    private async Task<(IReadOnlyList<EntryInfo> Entries, bool More)> ListMergedAsync(IReadOnlyList<string> names, string path, string? after, int limit, CancellationToken cancellationToken)
    {
        var canonical = FilePath.Join(names);
        var remote = await _replicator!.ListAsync(this, canonical, cancellationToken).ConfigureAwait(false);
        var merged = new SortedDictionary<string, EntryInfo>(StringComparer.Ordinal);
        using (await LockAsync(cancellationToken).ConfigureAwait(false))
        {
            TreeNode? node;
            try { node = Resolve(names, path); }
            catch (FilesException e) when (e.Code == FilesErrorCode.NotFound && remote.Any(r => !r.Tombstone)) { node = null; }
            if (node is FileNode) throw new FilesException(FilesErrorCode.NotADirectory, $"'{path}' is a file, not a directory");
            if (node is DirectoryNode dir)
                foreach (var (name, child) in dir.Children) merged[name] = Info(child);
            foreach (var r in remote)
            {
                // Newest stamp wins for a name; a tombstone here hides an older copy still listed elsewhere.
                if (r.Tombstone || r.Path == canonical || merged.ContainsKey(r.Name) || IsRestoreTemp(r.Name)) continue;
                if (_tombstones.TryGetValue(r.Path, out var t) && !r.Stamp.IsNewerThan(t.Stamp)) continue;
                if (remote.Any(o => o.Tombstone && o.Path == r.Path && !r.Stamp.IsNewerThan(o.Stamp))) continue;
                // Held elsewhere only: no inode here yet (id 0); opening it by path copies it here.
                merged[r.Name] = r.IsDirectory
                    ? new EntryInfo { Name = r.Name, Kind = EntryKind.Directory, Id = 0, Mode = DefaultDirectoryMode }
                    : new EntryInfo { Name = r.Name, Kind = EntryKind.File, Id = 0, Size = r.Size, CommittedSize = r.Size, Mode = DefaultFileMode, ModifiedUnixMs = r.Stamp.Clock / 1000 };
            }
        }
        var page = merged.Where(e => string.IsNullOrEmpty(after) || string.CompareOrdinal(e.Key, after) > 0).Take(limit + 1).Select(e => e.Value).ToList();
        bool more = page.Count > limit;
        if (more) page.RemoveAt(limit);
        return (page, more);
    }
}
