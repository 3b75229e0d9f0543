using System.Buffers;

namespace CheckpointCache.Engine.Files;

/// <summary>
/// One open file. A writing session builds a private copy-on-write version: each changed block is
/// staged (partial blocks in memory, whole ones in the engine under a fresh version) and the file
/// switches to the new version only at <see cref="CommitAsync"/>. Until then other sessions see the
/// last committed version, and this one sees its own writes. Concurrent writers each build their
/// own version; the last commit wins, whole. A write that fails poisons the session: it can no
/// longer commit, so a failed write can never be published as a hole of zeros.
/// </summary>
public sealed class FileSession
{
    private const int ReadParallelism = 4;
    private readonly FileTree _tree;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly Dictionary<long, StagedBlock> _staged = [];
    // Blocks written under the current staging version: what is not published is garbage.
    private readonly HashSet<long> _putThisRound = [];
    private readonly int _blockBytes;
    private long[] _base;
    private long _size;
    private long _stagingVersion;
    private long _stagedMemory;
    private long _touches;
    private bool _dirty;
    private bool _closed;
    private FilesException? _failure;

    internal FileSession(FileTree tree, FileNode file, OpenMode mode, bool created)
    {
        _tree = tree;
        File = file;
        Mode = mode;
        Created = created;
        _blockBytes = tree.BlockBytes;
        Id = Random.Shared.NextInt64(1, long.MaxValue);
        _base = (long[])file.Blocks.Clone();
        _size = file.Size;
        Version = file.Version;
        if ((mode & OpenMode.Truncate) != 0 && file.Size > 0)
        {
            _base = [];
            _size = 0;
            _dirty = true;
        }
        _stagingVersion = BlockKey.NewVersion();
        LastUsed = DateTime.UtcNow;
    }

    public long Id { get; }
    public long FileId => File.Id;
    /// <summary>The tree (files store) this session belongs to.</summary>
    public FileTree Tree => _tree;
    public OpenMode Mode { get; }
    /// <summary>The open created the file.</summary>
    public bool Created { get; }
    internal FileNode File { get; }
    /// <summary>The size this session sees: its own writes included.</summary>
    public long Size => Interlocked.Read(ref _size);
    /// <summary>The committed version this session started from, or last committed itself.</summary>
    public long Version { get; private set; }
    public bool IsDirty => _dirty;
    /// <summary>Nodes that held this session's last committed version when the commit returned, this one included (0: the store is not replicated).</summary>
    public int Replicas { get; private set; }
    public bool CanWrite => (Mode & OpenMode.Write) != 0;
    public long StagedBytes => _dirty ? (long)_staged.Count * _blockBytes : 0;
    internal DateTime LastUsed { get; private set; }
    /// <summary>The file's current path ("" when it was deleted while open).</summary>
    public string Path => File.Attached ? File.PathOf() : "";

    private int B => _blockBytes;

    private void CheckOpen()
    {
        if (_closed) throw new FilesException(FilesErrorCode.SessionNotFound, $"session {Id:x} is closed");
        LastUsed = DateTime.UtcNow;
    }

    private void CheckWritable()
    {
        if (!CanWrite) throw new FilesException(FilesErrorCode.BadHandle, $"session {Id:x} on '{Path}' was opened read-only");
        if (_failure is { } f) throw new FilesException(f.Code, $"an earlier write to '{Path}' in this session failed, so it cannot go on: {f.Message}", f);
    }

    public async Task WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        if (offset < 0) throw new FilesException(FilesErrorCode.InvalidArgument, $"write offset {offset} is negative");
        long end = offset + data.Length;
        if (end > _tree.Options.MaxFileBytes) throw new FilesException(FilesErrorCode.FileTooLarge, $"a write ending at {end} is past Files:MaxFileBytes {_tree.Options.MaxFileBytes}");
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            CheckOpen();
            CheckWritable();
            if (data.IsEmpty) return;
            _dirty = true;
            if (end > _size) Interlocked.Exchange(ref _size, end);
            try
            {
                await WriteLockedAsync(offset, data, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                throw Poison(e);
            }
            FileTree.Touch(File, _size);
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task WriteLockedAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            long index = offset / B;
            int within = (int)(offset % B);
            int n = Math.Min(B - within, data.Length);
            var piece = data[..n];
            _staged.TryGetValue(index, out var block);
            if (n == B && block?.Buffer is null)
            {
                // A whole block goes straight to the engine: no staging copy, nothing to merge.
                await PutBlockAsync(index, piece, cancellationToken).ConfigureAwait(false);
                block ??= _staged[index] = new StagedBlock(index);
                block.InEngine = true;
                block.EngineLength = B;
            }
            else
            {
                block ??= _staged[index] = new StagedBlock(index);
                if (block.Buffer is null)
                {
                    block.Buffer = ArrayPool<byte>.Shared.Rent(B);
                    _stagedMemory += B;
                }
                block.Touched = ++_touches;
                piece.Span.CopyTo(block.Buffer.AsSpan(within));
                block.Written.Add(within, within + n);
                if (block.Written.Covers(0, B)) await FlushBlockAsync(block, cancellationToken).ConfigureAwait(false);
            }
            offset += n;
            data = data[n..];
        }
        // Bounded memory: merge the least recently written partial blocks with their old bytes.
        while (_stagedMemory > _tree.Options.MaxStagedBytesPerSession)
        {
            var oldest = _staged.Values.Where(b => b.Buffer is not null).MinBy(b => b.Touched);
            if (oldest is null) break;
            await FlushBlockAsync(oldest, cancellationToken).ConfigureAwait(false);
        }
    }

    private FilesException Poison(Exception e)
    {
        var failure = e switch
        {
            FilesException f => f,
            CacheException { Code: CacheErrorCode.OutOfSpace } c => new FilesException(FilesErrorCode.OutOfSpace, c.Message, c),
            OperationCanceledException => new FilesException(FilesErrorCode.DataLost, "a write was cancelled half way", e),
            _ => new FilesException(FilesErrorCode.DataLost, $"a write failed: {e.Message}", e),
        };
        _failure ??= failure;
        return failure;
    }

    private async Task PutBlockAsync(long index, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var key = BlockKey.Block(File.Id, index, _stagingVersion);
        try
        {
            await _tree.Namespace.PutAsync(key, content, cancellationToken).ConfigureAwait(false);
        }
        catch (CacheException e) when (e.Code == CacheErrorCode.OutOfSpace)
        {
            // Blocks of files deleted a moment ago may still be queued for deletion; their space counts once they are gone.
            if (_tree.Reaper.Pending == 0 || !await _tree.Reaper.WaitDrainedAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false))
                throw new FilesException(FilesErrorCode.OutOfSpace, $"no space for '{Path}': {e.Message}", e);
            try
            {
                await _tree.Namespace.PutAsync(key, content, cancellationToken).ConfigureAwait(false);
            }
            catch (CacheException again) when (again.Code == CacheErrorCode.OutOfSpace)
            {
                throw new FilesException(FilesErrorCode.OutOfSpace, $"no space for '{Path}': {again.Message}", again);
            }
        }
        _putThisRound.Add(index);
        _tree.NoteBlocksWritten();
    }

    /// <summary>Writes a staged block's merged bytes to the engine (trimmed to the file's size) and drops its buffer.</summary>
    private async Task FlushBlockAsync(StagedBlock block, CancellationToken cancellationToken)
    {
        int length = (int)Math.Clamp(_size - block.Index * B, 0, B);
        if (block.Buffer is { } buffer && block.Written.Covers(0, B))
        {
            await PutBlockAsync(block.Index, buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var merged = await MaterializeAsync(block.Index, block, cancellationToken).ConfigureAwait(false);
            try
            {
                await PutBlockAsync(block.Index, merged.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(merged);
            }
        }
        block.InEngine = true;
        block.EngineLength = length;
        if (block.Buffer is not null)
        {
            block.ReleaseBuffer();
            _stagedMemory -= B;
        }
    }

    /// <summary>The full current bytes of a block (B bytes, zeros where nothing was ever written), in a rented buffer.</summary>
    private async Task<byte[]> MaterializeAsync(long index, StagedBlock? block, CancellationToken cancellationToken)
    {
        var merged = ArrayPool<byte>.Shared.Rent(B);
        try
        {
            Array.Clear(merged, 0, B);
            await ReadUnderlyingAsync(index, block, 0, merged.AsMemory(0, B), cancellationToken).ConfigureAwait(false);
            if (block?.Buffer is { } buffer)
                foreach (var (s, e) in block.Written.Ranges) buffer.AsSpan(s, e - s).CopyTo(merged.AsSpan(s));
            return merged;
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(merged);
            throw;
        }
    }

    /// <summary>
    /// Reads what lies beneath a block's buffer (the session's flushed block, else the base version's block)
    /// from <paramref name="within"/> into <paramref name="destination"/>; bytes past what is stored are zeros.
    /// </summary>
    private async Task ReadUnderlyingAsync(long index, StagedBlock? block, int within, Memory<byte> destination, CancellationToken cancellationToken)
    {
        long version = block is { InEngine: true } ? _stagingVersion : index < _base.Length ? _base[index] : 0;
        if (version == 0)
        {
            destination.Span.Clear();
            return;
        }
        var key = BlockKey.Block(File.Id, index, version);
        if (within == 0)
        {
            // The block from its start: straight from the store into the destination, one copy (often a client's
            // shared buffer), instead of through a pooled buffer.
            var read = await _tree.Namespace.ReadIntoAsync(key, destination, cancellationToken).ConfigureAwait(false);
            if (read.Outcome == ReadIntoOutcome.Miss) throw BlockLost(index);
            if (read.Outcome == ReadIntoOutcome.Hit)
            {
                destination.Span[(int)read.Length..].Clear();
                return;
            }
        }
        using var value = await _tree.Namespace.GetAsync(key, cancellationToken).ConfigureAwait(false) ?? throw BlockLost(index);
        int available = Math.Clamp(value.Length - within, 0, destination.Length);
        value.Span.Slice(within, available).CopyTo(destination.Span);
        destination.Span[available..].Clear();
    }

    private FilesException BlockLost(long index)
        => new(FilesErrorCode.DataLost, $"block {index} of '{Path}' (file #{File.Id}) cannot be read back: it was evicted or failed its checksum");

    /// <summary>Reads up to <paramref name="destination"/>.Length bytes at <paramref name="offset"/>; returns 0 at the end of the file.</summary>
    public async Task<int> ReadAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        if (offset < 0) throw new FilesException(FilesErrorCode.InvalidArgument, $"read offset {offset} is negative");
        if ((Mode & OpenMode.Read) == 0) throw new FilesException(FilesErrorCode.BadHandle, $"session {Id:x} on '{Path}' was opened write-only");
        // A read-only session's version never changes, so its reads need no lock and run in parallel.
        bool locked = CanWrite;
        if (locked) await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            CheckOpen();
            long size = _size;
            if (offset >= size || destination.IsEmpty) return 0;
            int count = (int)Math.Min(destination.Length, size - offset);
            var pieces = new List<(long Index, int Within, Memory<byte> Destination)>();
            for (int done = 0; done < count;)
            {
                long position = offset + done;
                long index = position / B;
                int within = (int)(position % B);
                int n = Math.Min(B - within, count - done);
                pieces.Add((index, within, destination.Slice(done, n)));
                done += n;
            }
            if (pieces.Count == 1 || locked)
            {
                foreach (var (index, within, dest) in pieces) await ReadPieceAsync(index, within, dest, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                int next = -1;
                async Task Worker()
                {
                    for (int i; (i = Interlocked.Increment(ref next)) < pieces.Count;)
                        await ReadPieceAsync(pieces[i].Index, pieces[i].Within, pieces[i].Destination, cancellationToken).ConfigureAwait(false);
                }
                await Task.WhenAll(Enumerable.Range(0, Math.Min(ReadParallelism, pieces.Count)).Select(_ => Worker())).ConfigureAwait(false);
            }
            return count;
        }
        finally
        {
            if (locked) _lock.Release();
        }
    }

    private async Task ReadPieceAsync(long index, int within, Memory<byte> destination, CancellationToken cancellationToken)
    {
        _staged.TryGetValue(index, out var block);
        if (block?.Buffer is { } buffer && block.Written.Covers(within, within + destination.Length))
        {
            buffer.AsSpan(within, destination.Length).CopyTo(destination.Span);
            return;
        }
        await ReadUnderlyingAsync(index, block, within, destination, cancellationToken).ConfigureAwait(false);
        if (block?.Buffer is { } partial)
        {
            int end = within + destination.Length;
            foreach (var (s, e) in block.Written.Ranges)
            {
                int from = Math.Max(s, within), to = Math.Min(e, end);
                if (from < to) partial.AsSpan(from, to - from).CopyTo(destination.Span[(from - within)..]);
            }
        }
    }

    /// <summary>Sets the size (ftruncate); bytes past a shrink are gone, bytes of a growth read as zeros.</summary>
    public async Task TruncateAsync(long size, CancellationToken cancellationToken = default)
    {
        if (size < 0) throw new FilesException(FilesErrorCode.InvalidArgument, $"size {size} is negative");
        if (size > _tree.Options.MaxFileBytes) throw new FilesException(FilesErrorCode.FileTooLarge, $"size {size} is past Files:MaxFileBytes {_tree.Options.MaxFileBytes}");
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            CheckOpen();
            CheckWritable();
            if (size == _size) return;
            _dirty = true;
            try
            {
                if (size < _size) await ShrinkLockedAsync(size, cancellationToken).ConfigureAwait(false);
                Interlocked.Exchange(ref _size, size);
            }
            catch (Exception e)
            {
                throw Poison(e);
            }
            FileTree.Touch(File, size);
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task ShrinkLockedAsync(long size, CancellationToken cancellationToken)
    {
        long keep = (size + B - 1) / B;
        foreach (var block in _staged.Values.Where(b => b.Index >= keep).ToList())
        {
            if (block.Buffer is not null) { block.ReleaseBuffer(); _stagedMemory -= B; }
            _staged.Remove(block.Index);
        }
        if (_base.Length > keep) Array.Resize(ref _base, (int)keep);
        int tail = (int)(size % B);
        if (tail == 0) return;
        // The block that now ends the file is rewritten without its old bytes past the end, so growing
        // the file again reads zeros there.
        long last = keep - 1;
        _staged.TryGetValue(last, out var staged);
        var merged = await MaterializeAsync(last, staged, cancellationToken).ConfigureAwait(false);
        try
        {
            Array.Clear(merged, tail, B - tail);
            Interlocked.Exchange(ref _size, size);
            await PutBlockAsync(last, merged.AsMemory(0, tail), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(merged);
        }
        staged ??= _staged[last] = new StagedBlock(last);
        if (staged.Buffer is not null) { staged.ReleaseBuffer(); _stagedMemory -= B; }
        staged.InEngine = true;
        staged.EngineLength = tail;
    }

    /// <summary>
    /// fsync: writes the staged blocks, then the record that switches the file to this version, then
    /// commits the engine. Returns once all of it is durable on local SSD and, in a replicated store, once the
    /// other holders took their copies (Replicated when at least one did; <see cref="Replicas"/> says how many).
    /// </summary>
    public async Task<DurabilityLevel> CommitAsync(CancellationToken cancellationToken = default)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            CheckOpen();
            return await CommitLockedAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task<DurabilityLevel> CommitLockedAsync(CancellationToken cancellationToken)
    {
        if (CanWrite) CheckWritable();
        // A file this session created is published at its first commit even when empty (a marker file is a file).
        if (!_dirty && !(Created && CanWrite && File.Version == 0 && Version == 0))
        {
            await _tree.CommitEngineAsync(cancellationToken).ConfigureAwait(false);
            Replicas = File.Version == Version ? File.Replicas : 0;
            return Replicas >= 2 ? DurabilityLevel.Replicated : DurabilityLevel.Local;
        }
        try
        {
            foreach (var block in _staged.Values.Where(b => b.Buffer is not null).OrderBy(b => b.Index).ToList())
                await FlushBlockAsync(block, cancellationToken).ConfigureAwait(false);
            long count = (_size + B - 1) / B;
            var blocks = new long[count];
            Array.Copy(_base, blocks, Math.Min(_base.Length, count));
            foreach (var index in _staged.Keys)
                if (index < count) blocks[index] = _stagingVersion;
            Version = await _tree.PublishAsync(File, _size, blocks, cancellationToken).ConfigureAwait(false);
            _base = blocks;
        }
        catch (Exception e)
        {
            throw Poison(e);
        }
        long published = (_size + B - 1) / B;
        _tree.Reaper.Enqueue(_putThisRound.Where(i => i >= published || !_staged.ContainsKey(i)).Select(i => new BlockRef(File.Id, i, _stagingVersion)).ToList());
        _putThisRound.Clear();
        _staged.Clear();
        _stagingVersion = BlockKey.NewVersion();
        _dirty = false;
        Replicas = await _tree.ReplicateCommittedAsync(File, cancellationToken).ConfigureAwait(false);
        return Replicas >= 2 ? DurabilityLevel.Replicated : DurabilityLevel.Local;
    }

    /// <summary>Ends the session, committing first when asked (close after write). The session is gone even if the commit fails.</summary>
    public async Task<DurabilityLevel?> CloseAsync(bool commit, CancellationToken cancellationToken = default)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_closed) return null;
            try
            {
                return commit && CanWrite ? await CommitLockedAsync(cancellationToken).ConfigureAwait(false) : null;
            }
            finally
            {
                EndLocked();
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Drops the session without committing (shutdown).</summary>
    internal void Abandon()
    {
        _lock.Wait();
        try
        {
            if (!_closed) EndLocked();
        }
        finally
        {
            _lock.Release();
        }
    }

    private void EndLocked()
    {
        _closed = true;
        foreach (var block in _staged.Values)
            if (block.Buffer is not null) block.ReleaseBuffer();
        var abandoned = _putThisRound.Select(i => (i, _stagingVersion)).ToList();
        _putThisRound.Clear();
        _staged.Clear();
        _stagedMemory = 0;
        _tree.Forget(this, abandoned);
    }
}
