using System.Collections.Concurrent;
using CheckpointCache.Engine.Options;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Engine.Files;

/// <summary>
/// The files layer over one namespace of kind files: a tree of directories and files whose
/// metadata is an in-memory inode table made durable by a journal of records (one engine value
/// each, appended in sequence) plus a periodic snapshot, and whose file bytes are blocks keyed by
/// (file id, block index, version). A commit writes the changed blocks first and the journal
/// record that switches the file to them last, then commits the engine: data and metadata become
/// durable together, and a crash leaves each file at a version that was committed, never a mix.
/// Thread-safe: metadata changes are serialized by one gate (they are in-memory plus one small
/// append); block I/O runs outside it.
/// </summary>
public sealed partial class FileTree : IAsyncDisposable
{
    private const int DefaultFileMode = 0b110_100_100;       // 0644
    private const int DefaultDirectoryMode = 0b111_101_101;  // 0755

    private readonly ICacheNamespace _ns;
    private readonly FilesOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<long, TreeNode> _nodes = [];
    private readonly ConcurrentDictionary<long, FileSession> _sessions = new();
    private readonly MetadataJournal _journal;
    private readonly BlockReaper _reaper;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sweeper;
    private readonly IColdTier? _cold;
    // Writeback state, all under the gate: files that may need an upload (id -> order of arrival), the paths whose
    // remote copies are to be deleted, and callers waiting for a version to be persisted.
    private readonly bool _writesBack;
    private readonly Dictionary<long, long> _candidates = [];
    private long _candidateTicket;
    private readonly HashSet<string> _remoteDeletes = new(StringComparer.Ordinal);
    private readonly Dictionary<long, List<(long Version, TaskCompletionSource<bool> Done)>> _persistWaiters = [];
    private WritebackQueue? _writeback;
    private ColdRestorer? _restorer;
    private DirectoryNode _root;
    private long _nextId;
    private long _durableSequence;
    private int _disposed;

    private FileTree(ICacheNamespace ns, FilesOptions options, ILogger logger, MetadataJournal journal, IColdTier? cold)
    {
        _ns = ns;
        _cold = cold;
        _writesBack = cold is not null && cold.WritesBack(ns.Name);
        _options = options;
        _logger = logger;
        _journal = journal;
        _reaper = new BlockReaper(ns, logger);
        _root = new DirectoryNode(DirectoryNode.RootId, "", DefaultDirectoryMode, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        _nodes[_root.Id] = _root;
        _nextId = DirectoryNode.RootId + 1;
        _sweeper = Task.Run(SweepIdleSessionsAsync);
    }

    public string NamespaceName => _ns.Name;
    public int BlockBytes { get; private init; }
    internal FilesOptions Options => _options;
    internal ICacheNamespace Namespace => _ns;
    internal ILogger Logger => _logger;
    internal BlockReaper Reaper => _reaper;
    /// <summary>The cold tier this store reads through from (and, in mode Writeback, writes back to); null without one.</summary>
    public IColdTier? ColdTier => _cold;
    /// <summary>Committed files selected by the persist policy are uploaded to the cold tier.</summary>
    public bool WritesBack => _writesBack;

    /// <summary>Opens the files layer over <paramref name="ns"/>, recovering the tree from its snapshot and journal.</summary>
    public static Task<FileTree> OpenAsync(ICacheNamespace ns, FilesOptions options, ILogger logger, CancellationToken cancellationToken = default)
        => OpenAsync(ns, options, logger, coldTier: null, cancellationToken);

    /// <summary>
    /// Opens the files layer with a cold tier: misses read through from it, and in mode Writeback a durable queue (the
    /// journal itself) uploads committed files the policy selects. Files stores never evict, so nothing not yet
    /// persisted can be dropped from the cache.
    /// </summary>
    public static async Task<FileTree> OpenAsync(ICacheNamespace ns, FilesOptions options, ILogger logger, IColdTier? coldTier, CancellationToken cancellationToken = default)
    {
        options = options.Clone();
        if (ns.Kind != NamespaceKind.Files)
            throw new FilesException(FilesErrorCode.InvalidArgument, $"namespace '{ns.Name}' is of kind {ns.Kind}; files need a namespace of kind files");
        long block = options.BlockBytes.Bytes;
        if (block < 4096 || block > 64L * 1024 * 1024 || block % 4096 != 0)
            throw new FilesException(FilesErrorCode.InvalidArgument, $"Files:BlockBytes {options.BlockBytes} must be a multiple of 4KiB between 4KiB and 64MiB");
        if (options.MaxNameBytes < 1 || options.MaxPathBytes < options.MaxNameBytes)
            throw new FilesException(FilesErrorCode.InvalidArgument, $"Files:MaxNameBytes {options.MaxNameBytes} must be at least 1 and at most Files:MaxPathBytes {options.MaxPathBytes}");
        if (options.SnapshotEveryRecords < 1)
            throw new FilesException(FilesErrorCode.InvalidArgument, $"Files:SnapshotEveryRecords {options.SnapshotEveryRecords} must be at least 1");
        var journal = new MetadataJournal(ns, (int)block, logger);
        var tree = new FileTree(ns, options, logger, journal, coldTier) { BlockBytes = (int)block };
        try
        {
            await tree.RecoverAsync(cancellationToken).ConfigureAwait(false);
            if (coldTier is not null)
            {
                tree._restorer = new ColdRestorer(tree, coldTier, logger);
                await tree.RemoveRestoreLeftoversAsync(cancellationToken).ConfigureAwait(false);
                if (tree._writesBack) tree._writeback = new WritebackQueue(tree, coldTier, logger);
            }
        }
        catch
        {
            await tree.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return tree;
    }

    private async Task RecoverAsync(CancellationToken cancellationToken)
    {
        var started = DateTime.UtcNow;
        var snapshot = await _journal.ReadSnapshotAsync(cancellationToken).ConfigureAwait(false);
        if (snapshot is not null)
        {
            _nodes.Clear();
            foreach (var node in snapshot.Nodes) _nodes[node.Id] = node;
            _root = (DirectoryNode)_nodes[DirectoryNode.RootId];
            _nextId = snapshot.NextId;
            if (_writesBack) _remoteDeletes.UnionWith(snapshot.RemoteDeletes);
            foreach (var t in snapshot.Tombstones) { _tombstones[t.Path] = t; Observe(t.Stamp); }
            foreach (var node in snapshot.Nodes) if (node is FileNode f) Observe(f.Stamp);
        }
        int replayed = 0;
        await foreach (var record in _journal.ReplayAsync(cancellationToken).ConfigureAwait(false))
        {
            Apply(record);
            replayed++;
        }
        _durableSequence = _journal.Sequence;
        // Whatever was pending before the restart is found again: every file is a candidate once.
        if (_writesBack)
            foreach (var node in _nodes.Values)
                if (node is FileNode f) AddCandidate(f);
        _logger.LogInformation(
            "Files in namespace {Namespace} recovered in {RecoveryMs} ms: {Files} files, {Directories} directories, snapshot at record {SnapshotSequence}, {Replayed} journal records replayed",
            _ns.Name, (DateTime.UtcNow - started).TotalMilliseconds, _nodes.Values.Count(n => n.Kind == EntryKind.File),
            _nodes.Values.Count(n => n.Kind == EntryKind.Directory), _journal.SnapshotSequence, replayed);
    }

    // ---- lookups ----

    private IReadOnlyList<string> Parse(string path) => FilePath.Parse(path, _options.MaxPathBytes, _options.MaxNameBytes);

    private TreeNode Resolve(IReadOnlyList<string> names, string path)
    {
        TreeNode node = _root;
        for (int i = 0; i < names.Count; i++)
        {
            if (node is not DirectoryNode dir)
                throw new FilesException(FilesErrorCode.NotADirectory, $"'{FilePath.Join(names.Take(i))}' in '{path}' is a file, not a directory");
            if (!dir.Children.TryGetValue(names[i], out var child))
                throw new FilesException(FilesErrorCode.NotFound, $"'{FilePath.Join(names.Take(i + 1))}' does not exist");
            node = child;
        }
        return node;
    }

    /// <summary>The directory that holds the last name of <paramref name="names"/>.</summary>
    private DirectoryNode ResolveParent(IReadOnlyList<string> names, string path)
    {
        if (names.Count == 0) throw new FilesException(FilesErrorCode.InvalidArgument, $"'{path}' is the root of the namespace");
        var parent = Resolve(names.Take(names.Count - 1).ToList(), path);
        return parent as DirectoryNode
            ?? throw new FilesException(FilesErrorCode.NotADirectory, $"'{FilePath.Join(names.Take(names.Count - 1))}' in '{path}' is a file, not a directory");
    }

    internal EntryInfo Info(TreeNode node) => node switch
    {
        FileNode f => new EntryInfo
        {
            Name = f.Name, Kind = EntryKind.File, Id = f.Id, Size = f.OpenWriters > 0 ? f.LiveSize : f.Size, CommittedSize = f.Size,
            Version = f.Version, ModifiedUnixMs = f.ModifiedUnixMs, Mode = f.Mode, OpenWriters = f.OpenWriters,
        },
        DirectoryNode d => new EntryInfo
        {
            Name = d.Name, Kind = EntryKind.Directory, Id = d.Id, ModifiedUnixMs = d.ModifiedUnixMs, Mode = d.Mode, ChildCount = d.Children.Count,
        },
        _ => throw new InvalidOperationException("unknown node kind"),
    };

    private async ValueTask<IDisposable> LockAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new Releaser(_gate);
    }

    private sealed class Releaser(SemaphoreSlim gate) : IDisposable
    {
        private int _released;
        public void Dispose() { if (Interlocked.Exchange(ref _released, 1) == 0) gate.Release(); }
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    // ---- metadata operations ----

    /// <summary>Stat; a path that is not here is restored from the cold tier first when it is there.</summary>
    public async Task<EntryInfo> StatAsync(string path, CancellationToken cancellationToken = default)
    {
        try
        {
            return await StatLocalAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (FilesException e) when (e.Code == FilesErrorCode.NotFound && ReadsThrough)
        {
            if (!await ReadThroughAsync(path, cancellationToken).ConfigureAwait(false)) throw;
        }
        return await StatLocalAsync(path, cancellationToken).ConfigureAwait(false);
    }

    internal async Task<bool> ExistsLocallyAsync(string path, CancellationToken cancellationToken)
    {
        try
        {
            await StatLocalAsync(path, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (FilesException e) when (e.Code is FilesErrorCode.NotFound)
        {
            return false;
        }
    }

    /// <summary>Stat of what this node holds, never asking the cold tier.</summary>
    public async Task<EntryInfo> StatLocalAsync(string path, CancellationToken cancellationToken = default)
    {
        var names = Parse(path);
        using var _ = await LockAsync(cancellationToken).ConfigureAwait(false);
        return Info(Resolve(names, path));
    }

    public async Task<EntryInfo> StatByIdAsync(long id, CancellationToken cancellationToken = default)
    {
        using var _ = await LockAsync(cancellationToken).ConfigureAwait(false);
        if (_nodes.TryGetValue(id, out var node)) return Info(node);
        foreach (var session in _sessions.Values)
            if (session.FileId == id) return Info(session.File);
        throw new FilesException(FilesErrorCode.NotFound, $"#{id} does not exist");
    }

    /// <summary>Entries of a directory in ordinal name order, after <paramref name="after"/> (exclusive), at most <paramref name="limit"/>.</summary>
    public async Task<(IReadOnlyList<EntryInfo> Entries, bool More)> ListAsync(string path, string? after, int limit, CancellationToken cancellationToken = default)
    {
        if (limit < 1) throw new FilesException(FilesErrorCode.InvalidArgument, $"page size {limit} must be at least 1");
        var names = Parse(path);
        if (_replicator is not null) return await ListMergedAsync(names, path, after, limit, cancellationToken).ConfigureAwait(false);
        using var _ = await LockAsync(cancellationToken).ConfigureAwait(false);
        var node = Resolve(names, path);
        if (node is not DirectoryNode dir) throw new FilesException(FilesErrorCode.NotADirectory, $"'{path}' is a file, not a directory");
        var page = new List<EntryInfo>(Math.Min(limit, dir.Children.Count));
        bool more = false;
        foreach (var (name, child) in dir.Children)
        {
            if (!string.IsNullOrEmpty(after) && string.CompareOrdinal(name, after) <= 0) continue;
            if (page.Count == limit) { more = true; break; }
            page.Add(Info(child));
        }
        return (page, more);
    }

    public async Task<EntryInfo> MkdirAsync(string path, int? mode = null, bool parents = false, CancellationToken cancellationToken = default)
    {
        var names = Parse(path);
        using var _ = await LockAsync(cancellationToken).ConfigureAwait(false);
        if (names.Count == 0)
        {
            if (parents) return Info(_root);
            throw new FilesException(FilesErrorCode.AlreadyExists, "'/' exists");
        }
        DirectoryNode dir = _root;
        for (int i = 0; i < names.Count; i++)
        {
            bool last = i == names.Count - 1;
            if (dir.Children.TryGetValue(names[i], out var child))
            {
                if (child is DirectoryNode d && (parents || !last)) { dir = d; continue; }
                if (child is DirectoryNode && last) throw new FilesException(FilesErrorCode.AlreadyExists, $"'{path}' exists");
                if (last) throw new FilesException(FilesErrorCode.AlreadyExists, $"'{path}' exists (a file)");
                throw new FilesException(FilesErrorCode.NotADirectory, $"'{FilePath.Join(names.Take(i + 1))}' in '{path}' is a file, not a directory");
            }
            if (!last && !parents) throw new FilesException(FilesErrorCode.NotFound, $"'{FilePath.Join(names.Take(i + 1))}' does not exist");
            var record = new JournalRecord(JournalOp.Mkdir) { ParentId = dir.Id, Name = names[i], Id = _nextId, Mode = mode ?? DefaultDirectoryMode, ModifiedUnixMs = Now() };
            await AppendLockedAsync(record, cancellationToken).ConfigureAwait(false);
            dir = (DirectoryNode)_nodes[record.Id];
        }
        return Info(dir);
    }

    /// <summary>
    /// Opens a file for reading, writing or both (creating it with Create). Every open gets a session:
    /// writes stay private to it until it commits, and readers see the version committed when they opened.
    /// </summary>
    public async Task<FileSession> OpenAsync(string path, OpenMode mode, int? createMode = null, CancellationToken cancellationToken = default)
    {
        // Read through unless the open replaces the file whole (create + truncate): then old bytes do not matter.
        bool replaces = (mode & (OpenMode.Create | OpenMode.Truncate)) == (OpenMode.Create | OpenMode.Truncate);
        if ((mode & OpenMode.Create) != 0 && _replicator is not null) await EnsureParentAsync(path, cancellationToken).ConfigureAwait(false);
        if (!ReadsThrough || replaces) return await OpenLocalAsync(path, mode, createMode, cancellationToken).ConfigureAwait(false);
        if ((mode & OpenMode.Create) != 0)
        {
            // Create without truncate keeps existing bytes, so an object only in the cold tier is restored first.
            if (!await ExistsLocallyAsync(path, cancellationToken).ConfigureAwait(false)) await ReadThroughAsync(path, cancellationToken).ConfigureAwait(false);
            return await OpenLocalAsync(path, mode, createMode, cancellationToken).ConfigureAwait(false);
        }
        try
        {
            return await OpenLocalAsync(path, mode, createMode, cancellationToken).ConfigureAwait(false);
        }
        catch (FilesException e) when (e.Code == FilesErrorCode.NotFound)
        {
            if (!await ReadThroughAsync(path, cancellationToken).ConfigureAwait(false)) throw;
        }
        return await OpenLocalAsync(path, mode, createMode, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Open of what this node holds, never asking the cold tier.</summary>
    internal async Task<FileSession> OpenLocalAsync(string path, OpenMode mode, int? createMode, CancellationToken cancellationToken)
    {
        CheckMode(mode, path);
        var names = Parse(path);
        using var _ = await LockAsync(cancellationToken).ConfigureAwait(false);
        FileNode file;
        bool created = false;
        if (names.Count == 0) throw new FilesException(FilesErrorCode.IsADirectory, "'/' is a directory");
        var parent = ResolveParent(names, path);
        if (parent.Children.TryGetValue(names[^1], out var existing))
        {
            if ((mode & (OpenMode.Create | OpenMode.Exclusive)) == (OpenMode.Create | OpenMode.Exclusive))
                throw new FilesException(FilesErrorCode.AlreadyExists, $"'{path}' exists");
            file = existing as FileNode ?? throw new FilesException(FilesErrorCode.IsADirectory, $"'{path}' is a directory");
        }
        else
        {
            if ((mode & OpenMode.Create) == 0) throw new FilesException(FilesErrorCode.NotFound, $"'{path}' does not exist");
            var record = new JournalRecord(JournalOp.Create) { ParentId = parent.Id, Name = names[^1], Id = _nextId, Mode = createMode ?? DefaultFileMode, ModifiedUnixMs = Now() };
            await AppendLockedAsync(record, cancellationToken).ConfigureAwait(false);
            file = (FileNode)_nodes[record.Id];
            created = true;
        }
        return OpenLocked(file, mode, created);
    }

    /// <summary>Opens a file by its id (as a client reopens after losing its session), wherever it has been renamed to.</summary>
    public async Task<FileSession> OpenByIdAsync(long id, OpenMode mode, CancellationToken cancellationToken = default)
    {
        CheckMode(mode & ~(OpenMode.Create | OpenMode.Exclusive), $"#{id}");
        using var _ = await LockAsync(cancellationToken).ConfigureAwait(false);
        if (!_nodes.TryGetValue(id, out var node) || !node.Attached) throw new FilesException(FilesErrorCode.NotFound, $"file #{id} does not exist");
        var file = node as FileNode ?? throw new FilesException(FilesErrorCode.IsADirectory, $"#{id} ('{node.PathOf()}') is a directory");
        return OpenLocked(file, mode & ~(OpenMode.Create | OpenMode.Exclusive), created: false);
    }

    private static void CheckMode(OpenMode mode, string path)
    {
        if ((mode & OpenMode.ReadWrite) == 0) throw new FilesException(FilesErrorCode.InvalidArgument, $"open of '{path}' asks for neither reading nor writing");
        if ((mode & (OpenMode.Create | OpenMode.Truncate)) != 0 && (mode & OpenMode.Write) == 0)
            throw new FilesException(FilesErrorCode.InvalidArgument, $"open of '{path}': create and truncate need write access");
        if ((mode & OpenMode.Exclusive) != 0 && (mode & OpenMode.Create) == 0)
            throw new FilesException(FilesErrorCode.InvalidArgument, $"open of '{path}': exclusive needs create");
    }

    private FileSession OpenLocked(FileNode file, OpenMode mode, bool created)
    {
        var session = new FileSession(this, file, mode, created);
        file.OpenSessions++;
        if ((mode & OpenMode.Write) != 0)
        {
            file.OpenWriters++;
            file.LiveSize = session.Size;
        }
        _sessions[session.Id] = session;
        return session;
    }

    /// <summary>The open session <paramref name="id"/>; SessionNotFound when it was closed, expired, or the node restarted.</summary>
    public FileSession GetSession(long id)
    {
        if (_sessions.TryGetValue(id, out var session)) return session;
        throw new FilesException(FilesErrorCode.SessionNotFound, $"session {id:x} is not open on this node (closed, idle for Files:SessionIdleTimeout, or the node restarted)");
    }

    public int OpenSessionCount => _sessions.Count;

    /// <summary>
    /// Renames a file or directory atomically (one journal record, whatever the subtree). An existing target
    /// is replaced as rename(2) does (a file by a file, a directory by a directory only when empty), unless
    /// <paramref name="noReplace"/>.
    /// </summary>
    public async Task RenameAsync(string source, string target, bool noReplace = false, CancellationToken cancellationToken = default)
    {
        var from = Parse(source);
        var to = Parse(target);
        List<BlockRef> garbage;
        // Copies elsewhere follow a rename the user made; the renames of restores and replicas into place are not such.
        bool replicated = _replicator is not null && from.Count > 0 && !IsRestoreTemp(from[^1]);
        var moves = new List<(string Source, string Target)>();
        var stamp = FileStamp.None;
        using (await LockAsync(cancellationToken).ConfigureAwait(false))
        {
            if (from.Count == 0 || to.Count == 0) throw new FilesException(FilesErrorCode.InvalidArgument, "the root cannot be renamed, nor replaced");
            var fromParent = ResolveParent(from, source);
            if (!fromParent.Children.TryGetValue(from[^1], out var node)) throw new FilesException(FilesErrorCode.NotFound, $"'{source}' does not exist");
            var toParent = ResolveParent(to, target);
            if (node is DirectoryNode)
            {
                for (TreeNode? p = toParent; p is not null; p = p.Parent)
                    if (p == node) throw new FilesException(FilesErrorCode.InvalidArgument, $"cannot move directory '{source}' into itself ('{target}')");
            }
            if (toParent.Children.TryGetValue(to[^1], out var existing))
            {
                if (existing == node) return;
                if (noReplace) throw new FilesException(FilesErrorCode.AlreadyExists, $"'{target}' exists");
                if (node is FileNode && existing is DirectoryNode) throw new FilesException(FilesErrorCode.IsADirectory, $"'{target}' is a directory; '{source}' is a file");
                if (node is DirectoryNode && existing is FileNode) throw new FilesException(FilesErrorCode.NotADirectory, $"'{target}' is a file; '{source}' is a directory");
                if (existing is DirectoryNode d && d.Children.Count > 0) throw new FilesException(FilesErrorCode.NotEmpty, $"'{target}' is a directory that is not empty");
            }
            if (replicated)
            {
                stamp = NextStamp();
                string sourcePath = FilePath.Join(from), targetPath = FilePath.Join(to);
                foreach (var f in FilesUnder(node)) { var p = f.PathOf(); moves.Add((p, targetPath + p[sourcePath.Length..])); }
            }
            var record = new JournalRecord(JournalOp.Rename) { ParentId = fromParent.Id, Name = from[^1], TargetParentId = toParent.Id, TargetName = to[^1], ModifiedUnixMs = Now(), Stamp = stamp };
            garbage = await AppendLockedAsync(record, cancellationToken).ConfigureAwait(false);
        }
        _reaper.Enqueue(garbage);
        WakeWriteback();
        if (moves.Count > 0) await NotifyAsync(r => r.RenamedAsync(this, moves, stamp, cancellationToken), "rename", source).ConfigureAwait(false);
    }

    /// <summary>Removes a file, or a directory (with everything under it when <paramref name="recursive"/>).</summary>
    public async Task DeleteAsync(string path, bool recursive = false, EntryKind? expected = null, CancellationToken cancellationToken = default)
    {
        var names = Parse(path);
        List<BlockRef> garbage;
        bool replicated = _replicator is not null && names.Count > 0 && !IsRestoreTemp(names[^1]);
        var removed = new List<string>();
        var stamp = FileStamp.None;
        using (await LockAsync(cancellationToken).ConfigureAwait(false))
        {
            if (names.Count == 0) throw new FilesException(FilesErrorCode.InvalidArgument, "the root cannot be deleted");
            var parent = ResolveParent(names, path);
            if (!parent.Children.TryGetValue(names[^1], out var node)) throw new FilesException(FilesErrorCode.NotFound, $"'{path}' does not exist");
            if (expected == EntryKind.File && node is DirectoryNode) throw new FilesException(FilesErrorCode.IsADirectory, $"'{path}' is a directory");
            if (expected == EntryKind.Directory && node is FileNode) throw new FilesException(FilesErrorCode.NotADirectory, $"'{path}' is a file");
            if (node is DirectoryNode dir && dir.Children.Count > 0 && !recursive)
                throw new FilesException(FilesErrorCode.NotEmpty, $"directory '{path}' is not empty ({dir.Children.Count} entries)");
            if (replicated)
            {
                stamp = NextStamp();
                removed.AddRange(FilesUnder(node).Select(f => f.PathOf()));
            }
            garbage = await AppendLockedAsync(new JournalRecord(JournalOp.Delete) { ParentId = parent.Id, Name = names[^1], ModifiedUnixMs = Now(), Stamp = stamp }, cancellationToken).ConfigureAwait(false);
        }
        _reaper.Enqueue(garbage);
        WakeWriteback();
        if (removed.Count > 0) await NotifyAsync(r => r.RemovedAsync(this, removed, stamp, cancellationToken), "delete", path).ConfigureAwait(false);
    }

    /// <summary>chmod and utimens: permission bits and modification time.</summary>
    public async Task<EntryInfo> SetAttributesAsync(string path, int? mode, long? modifiedUnixMs, CancellationToken cancellationToken = default)
    {
        var names = Parse(path);
        using var _ = await LockAsync(cancellationToken).ConfigureAwait(false);
        var node = Resolve(names, path);
        if (mode is null && modifiedUnixMs is null) return Info(node);
        await AppendLockedAsync(new JournalRecord(JournalOp.SetAttributes)
        {
            Id = node.Id, SetsMode = mode is not null, Mode = (mode ?? 0) & 0xFFF, SetsModified = modifiedUnixMs is not null, ModifiedUnixMs = modifiedUnixMs ?? 0,
        }, cancellationToken).ConfigureAwait(false);
        return Info(node);
    }

    /// <summary>The state of the file at <paramref name="path"/>, or of every file under the directory there (at most <paramref name="limit"/>).</summary>
    public async Task<IReadOnlyList<ObjectStatus>> GetStatusAsync(string path, int limit = 1000, CancellationToken cancellationToken = default)
    {
        var names = Parse(path);
        var files = new List<(string Path, FileNode File, long[] Blocks, long Size, long Version, int Sessions, long Staged, bool Writing, bool Persisted, bool Pending, int Replicas, string Origin)>();
        using (await LockAsync(cancellationToken).ConfigureAwait(false))
        {
            var start = Resolve(names, path);
            var pending = new Stack<TreeNode>();
            pending.Push(start);
            while (pending.Count > 0 && files.Count < limit)
            {
                var node = pending.Pop();
                if (node is DirectoryNode d)
                {
                    foreach (var child in d.Children.Values.Reverse()) pending.Push(child);
                    continue;
                }
                var f = (FileNode)node;
                var sessions = _sessions.Values.Where(s => s.File == f).ToList();
                long staged = sessions.Sum(s => s.StagedBytes);
                var filePath = f.PathOf();
                files.Add((filePath, f, (long[])f.Blocks.Clone(), f.Size, f.Version, f.OpenSessions, staged, sessions.Any(s => s.IsDirty),
                    IsPersisted(f, filePath), _writesBack && IsPending(f, filePath), f.Replicas, StampOf(f).Origin));
            }
        }
        var result = new List<ObjectStatus>(files.Count);
        foreach (var (p, f, blocks, size, version, sessions, staged, writing, persisted, pending, replicas, origin) in files)
        {
            int stored = 0, missing = 0, ram = 0, ssd = 0;
            for (long i = 0; i < blocks.Length; i++)
            {
                if (blocks[i] == 0) continue;
                stored++;
                switch (await _ns.ExistsAsync(BlockKey.Block(f.Id, i, blocks[i]), cancellationToken).ConfigureAwait(false))
                {
                    case Tier.None: missing++; break;
                    case Tier.Ram: ram++; break;
                    default: ssd++; break;
                }
            }
            result.Add(new ObjectStatus
            {
                Path = p, Id = f.Id, CommittedSize = size, Version = version, Blocks = stored, MissingBlocks = missing, BlocksInRam = ram, BlocksOnSsd = ssd,
                OpenSessions = sessions, StagedBytes = staged,
                Durability = persisted ? DurabilityLevel.Persisted : replicas >= 2 ? DurabilityLevel.Replicated : DurabilityLevel.Local,
                PersistPending = pending, PersistedVersion = f.PersistedVersion, Replicas = replicas, Origin = origin,
                State = missing > 0 ? FileState.Damaged : writing ? FileState.Writing : FileState.Committed,
            });
        }
        return result;
    }

    public FilesUsage GetUsage()
    {
        var stats = _ns.GetStats();
        int files, dirs;
        _gate.Wait();
        try
        {
            files = _nodes.Values.Count(n => n.Kind == EntryKind.File);
            dirs = _nodes.Count - files;
        }
        finally
        {
            _gate.Release();
        }
        return new FilesUsage(stats.SsdBudgetBytes, Math.Min(stats.SsdBudgetBytes, stats.SsdBytesUsed), files, dirs, BlockBytes);
    }

    // ---- commits (called by sessions) ----

    /// <summary>
    /// Publishes a session's version of a file: one journal record with its size and changed blocks
    /// (whose data is already in the engine), then an engine commit. Returns the file's new version.
    /// The versions it replaced become garbage once no session uses the file.
    /// </summary>
    internal async Task<long> PublishAsync(FileNode file, long size, long[] blocks, CancellationToken cancellationToken)
    {
        long version;
        using (await LockAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!file.Attached)
            {
                // Deleted or replaced while open: its bytes are unreachable, as POSIX has it for unlinked files.
                version = file.Version;
            }
            else
            {
                var changes = new List<(long, long)>();
                var current = file.Blocks;
                for (long i = 0; i < blocks.Length; i++)
                    if (i >= current.Length || current[i] != blocks[i]) changes.Add((i, blocks[i]));
                var record = new JournalRecord(JournalOp.CommitFile) { Id = file.Id, Size = size, Version = file.Version + 1, ModifiedUnixMs = Now(), Changes = changes, Stamp = NextStamp() };
                await AppendLockedAsync(record, cancellationToken).ConfigureAwait(false);
                version = record.Version;
            }
        }
        await CommitEngineAsync(cancellationToken).ConfigureAwait(false);
        WakeWriteback();
        return version;
    }

    /// <summary>Makes every metadata change so far durable with the data before it; skipped when nothing changed since the last commit.</summary>
    internal async Task CommitEngineAsync(CancellationToken cancellationToken)
    {
        long target = _journal.Sequence;
        if (Interlocked.Read(ref _durableSequence) >= target && !_blocksSinceCommit) return;
        _blocksSinceCommit = false;
        await _ns.CommitAsync(cancellationToken).ConfigureAwait(false);
        long seen;
        while ((seen = Interlocked.Read(ref _durableSequence)) < target && Interlocked.CompareExchange(ref _durableSequence, target, seen) != seen) { }
    }

    private volatile bool _blocksSinceCommit;

    /// <summary>Marks that blocks were written, so the next commit cannot be skipped.</summary>
    internal void NoteBlocksWritten() => _blocksSinceCommit = true;

    /// <summary>Records the size a writer now has, for stat; a plain write, not worth the gate on every write.</summary>
    internal static void Touch(FileNode file, long liveSize) => file.LiveSize = liveSize;

    /// <summary>Forgets a session; the file's garbage is deleted once no session uses it.</summary>
    internal void Forget(FileSession session, IEnumerable<(long Index, long Version)> abandoned)
    {
        if (!_sessions.TryRemove(session.Id, out _)) return;
        var file = session.File;
        var garbage = abandoned.Select(b => new BlockRef(file.Id, b.Index, b.Version)).ToList();
        _gate.Wait();
        try
        {
            file.OpenSessions--;
            if ((session.Mode & OpenMode.Write) != 0) file.OpenWriters--;
            if (file.OpenWriters == 0) file.LiveSize = file.Size;
            if (file.OpenSessions == 0) TakeGarbage(file, garbage);
        }
        finally
        {
            _gate.Release();
        }
        _reaper.Enqueue(garbage);
    }

    // ---- the journal ----

    /// <summary>Appends a record and applies it; returns (file id, block version) garbage that may be deleted now.</summary>
    private async Task<List<BlockRef>> AppendLockedAsync(JournalRecord record, CancellationToken cancellationToken)
    {
        try
        {
            await _journal.AppendAsync(record, cancellationToken).ConfigureAwait(false);
        }
        catch (CacheException e) when (e.Code == CacheErrorCode.OutOfSpace)
        {
            throw new FilesException(FilesErrorCode.OutOfSpace, $"namespace '{_ns.Name}' is full: {e.Message}", e);
        }
        var garbage = Apply(record);
        if (_journal.RecordsSinceSnapshot >= _options.SnapshotEveryRecords && !_journal.SnapshotRunning)
        {
            PruneTombstones();
            var image = TreeSnapshot.Capture(_root, _nextId, _remoteDeletes, _tombstones.Values);
            _journal.StartSnapshot(image, _journal.Sequence);
        }
        return garbage;
    }

    /// <summary>Applies a record to the in-memory tree (live, or during replay). Returns the blocks it made garbage that no session uses.</summary>
    private List<BlockRef> Apply(JournalRecord r)
    {
        var garbage = new List<BlockRef>();
        switch (r.Op)
        {
            case JournalOp.Mkdir:
            case JournalOp.Create:
            {
                var parent = (DirectoryNode)_nodes[r.ParentId];
                TreeNode node = r.Op == JournalOp.Mkdir
                    ? new DirectoryNode(r.Id, r.Name, r.Mode, r.ModifiedUnixMs)
                    : new FileNode(r.Id, r.Name, r.Mode, r.ModifiedUnixMs);
                node.Parent = parent;
                parent.Children[r.Name] = node;
                parent.ModifiedUnixMs = r.ModifiedUnixMs;
                _nodes[r.Id] = node;
                _nextId = Math.Max(_nextId, r.Id + 1);
                break;
            }
            case JournalOp.Rename:
            {
                var from = (DirectoryNode)_nodes[r.ParentId];
                var to = (DirectoryNode)_nodes[r.TargetParentId];
                var node = from.Children[r.Name];
                var moved = r.Stamp.IsNone ? null : FilesUnder(node).Select(f => (File: f, From: f.PathOf())).ToList();
                if (to.Children.TryGetValue(r.TargetName, out var replaced) && replaced != node) Detach(replaced, garbage);
                from.Children.Remove(r.Name);
                node.Name = r.TargetName;
                node.Parent = to;
                to.Children[r.TargetName] = node;
                from.ModifiedUnixMs = to.ModifiedUnixMs = r.ModifiedUnixMs;
                foreach (var (f, old) in moved ?? [])
                {
                    AddTombstone(old, r.Stamp, r.ModifiedUnixMs);
                    SetStamp(f, r.Stamp);
                }
                // Objects are named by path: what moved is uploaded again under its new name.
                AddCandidates(node);
                break;
            }
            case JournalOp.Delete:
            {
                var parent = (DirectoryNode)_nodes[r.ParentId];
                var node = parent.Children[r.Name];
                if (!r.Stamp.IsNone)
                    foreach (var f in FilesUnder(node)) AddTombstone(f.PathOf(), r.Stamp, r.ModifiedUnixMs);
                parent.Children.Remove(r.Name);
                parent.ModifiedUnixMs = r.ModifiedUnixMs;
                Detach(node, garbage);
                break;
            }
            case JournalOp.CommitFile:
            {
                if (!_nodes.TryGetValue(r.Id, out var node) || node is not FileNode file) break;
                long count = (r.Size + BlockBytes - 1) / BlockBytes;
                var old = file.Blocks;
                var blocks = new long[count];
                Array.Copy(old, blocks, Math.Min(old.Length, count));
                foreach (var (index, version) in r.Changes)
                    if (index < count) blocks[index] = version;
                // A writer that opened before an earlier commit publishes blocks that commit retired: they live again.
                file.Garbage.RemoveAll(g => g.Index < count && blocks[g.Index] == g.Version);
                for (long i = 0; i < old.Length; i++)
                    if (old[i] != 0 && (i >= count || blocks[i] != old[i])) file.Garbage.Add((i, old[i]));
                file.Blocks = blocks;
                file.Size = r.Size;
                file.Version = r.Version;
                file.ModifiedUnixMs = r.ModifiedUnixMs;
                if (!r.Stamp.IsNone) SetStamp(file, r.Stamp);
                if (file.OpenWriters == 0) file.LiveSize = r.Size;
                if (file.OpenSessions == 0) TakeGarbage(file, garbage);
                AddCandidate(file);
                break;
            }
            case JournalOp.Persisted:
                ApplyPersisted(r);
                break;
            case JournalOp.RemoteDeleted:
                _remoteDeletes.Remove(r.Name);
                break;
            case JournalOp.Tombstone:
                AddTombstone(r.Name, r.Stamp, r.ModifiedUnixMs);
                break;
            case JournalOp.SetAttributes:
            {
                if (!_nodes.TryGetValue(r.Id, out var node)) break;
                if (r.SetsMode) node.Mode = r.Mode;
                if (r.SetsModified) node.ModifiedUnixMs = r.ModifiedUnixMs;
                break;
            }
            default:
                throw new InvalidDataException($"journal record of unknown kind {r.Op}");
        }
        return garbage;
    }

    private static void TakeGarbage(FileNode file, List<BlockRef> garbage)
    {
        foreach (var (index, version) in file.Garbage) garbage.Add(new BlockRef(file.Id, index, version));
        file.Garbage.Clear();
    }

    private void Detach(TreeNode node, List<BlockRef> garbage)
    {
        var pending = new Stack<TreeNode>();
        pending.Push(node);
        while (pending.Count > 0)
        {
            var n = pending.Pop();
            n.Attached = false;
            _nodes.Remove(n.Id);
            if (n is DirectoryNode d)
            {
                foreach (var child in d.Children.Values) pending.Push(child);
            }
            else if (n is FileNode f)
            {
                if (_writesBack && _cold!.DeleteRemoteOnDelete && f.PersistedPath is not null) _remoteDeletes.Add(f.PersistedPath);
                CompleteWaiters(f.Id, long.MaxValue, false);
                for (long i = 0; i < f.Blocks.Length; i++)
                    if (f.Blocks[i] != 0) f.Garbage.Add((i, f.Blocks[i]));
                if (f.OpenSessions == 0) TakeGarbage(f, garbage);
            }
        }
    }

    // ---- housekeeping ----

    private async Task SweepIdleSessionsAsync()
    {
        var period = TimeSpan.FromSeconds(Math.Clamp(_options.SessionIdleTimeout.TotalSeconds / 4, 1, 60));
        using var timer = new PeriodicTimer(period);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                var cutoff = DateTime.UtcNow - _options.SessionIdleTimeout;
                foreach (var session in _sessions.Values.Where(s => s.LastUsed < cutoff).ToList())
                {
                    _logger.LogWarning("Closing session {SessionId:x} on {Path}: idle since {LastUsed:o}; its uncommitted writes are dropped", session.Id, session.File.PathOf(), session.LastUsed);
                    try { await session.CloseAsync(commit: false, _stop.Token).ConfigureAwait(false); }
                    catch (Exception e) when (e is not OperationCanceledException) { _logger.LogWarning(e, "Closing idle session {SessionId:x} failed", session.Id); }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Uploads in flight finish (or are cancelled) while the tree can still record them.
        if (Volatile.Read(ref _disposed) == 0 && _writeback is not null) await _writeback.DisposeAsync().ConfigureAwait(false);
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        try { await _sweeper.ConfigureAwait(false); } catch (OperationCanceledException) { }
        foreach (var session in _sessions.Values.ToList()) session.Abandon();
        await _journal.WaitForSnapshotAsync().ConfigureAwait(false);
        await _reaper.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
