using System.Buffers;
using System.Threading.Channels;
using CheckpointCache.Client.Files;
using CheckpointCache.Rpc.Files.V1;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Mount.FileSystem;

/// <summary>
/// A FUSE file handle over a node session. Writes return once copied and reach the node in order
/// through one write stream at a time (write-behind, bounded by Mount:WriteBehindBytes); fsync and
/// close wait for all of them and then for the node's commit. Sequential reads are served from
/// read-ahead windows. If the node restarts, a handle with nothing uncommitted reopens its file by
/// id (a reader only if the file did not change); one with uncommitted writes fails with EIO.
/// Written bytes are copied once, into a shared slot the node reads them from (ordinary memory when none is free);
/// pieces of one block are gathered into one slot, so that the node gets whole blocks.
/// </summary>
internal sealed class OpenFile
{
    private readonly NodeCalls _calls;
    private readonly ILogger _logger;
    private readonly Channel<PendingWrite> _writes = Channel.CreateUnbounded<PendingWrite>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim _writeSlots;
    private readonly SemaphoreSlim _reopen = new(1, 1);
    private readonly Task? _pump;
    private readonly ReadAhead? _readAhead;
    private readonly SharedSlots _writeBuffers;
    /// <summary>Slots of the open write stream: the node may read them until the stream completes.</summary>
    private readonly List<PendingWrite> _inStream = [];
    private readonly int _completeAfter;
    private readonly object _gatherLock = new();
    private GatheredBlock? _gathered;
    private ulong _sessionId;
    private long _size;
    private volatile bool _uncommitted;
    private volatile HandleFailedException? _failure;

    public OpenFile(NodeCalls calls, OpenResponse open, bool canRead, bool canWrite, string store, int writeSlots, int readAheadBytes,
        SharedSlots readBuffers, SharedSlots writeBuffers, ILogger logger)
    {
        _calls = calls;
        _logger = logger;
        _sessionId = open.SessionId;
        FileId = open.Entry.Id;
        Version = open.Entry.Version;
        _size = open.Entry.Size;
        CanRead = canRead;
        CanWrite = canWrite;
        Store = store;
        _writeSlots = new SemaphoreSlim(Math.Max(1, writeSlots));
        _writeBuffers = writeBuffers;
        // Half the write-behind completes a stream, freeing its slots while the other half keeps the node busy.
        _completeAfter = Math.Max(1, writeSlots / 2);
        if (canWrite) _pump = Task.Run(PumpAsync);
        else _readAhead = new ReadAhead(FetchAsync, readAheadBytes, readBuffers);
    }

    public long FileId { get; }
    public long Version { get; private set; }
    public bool CanRead { get; }
    public bool CanWrite { get; }
    public string Store { get; }
    public long Size => Interlocked.Read(ref _size);
    private FilesClient Client => _calls.Client;

    /// <summary>Runs a call on this handle's session, reopening it once if the node lost it (restart, idle expiry).</summary>
    internal async Task<T> WithSessionAsync<T>(Func<ulong, Task<T>> call)
    {
        ulong session = _sessionId;
        try
        {
            return await _calls.RunAsync(() => call(session)).ConfigureAwait(false);
        }
        catch (FilesClientException e) when (e.Error == FilesError.SessionNotFound)
        {
            await ReopenAsync(session, e).ConfigureAwait(false);
            return await _calls.RunAsync(() => call(_sessionId)).ConfigureAwait(false);
        }
    }

    private async Task ReopenAsync(ulong lost, FilesClientException why)
    {
        await _reopen.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_sessionId != lost) return;
            if (_uncommitted)
                throw _failure ??= new HandleFailedException(Errno.EIO, $"file #{FileId}: its uncommitted writes were lost with its node session ({why.Message}); reopen the file and write it again", why);
            var flags = (CanRead ? OpenFlags.OpenRead : 0) | (CanWrite ? OpenFlags.OpenWrite : 0);
            var open = await _calls.RunAsync(() => Client.OpenByIdAsync(FileId, flags, Store)).ConfigureAwait(false);
            if (!CanWrite && open.Entry.Version != Version)
            {
                await _calls.RunAsync(() => Client.CloseAsync(open.SessionId, commit: false)).ConfigureAwait(false);
                throw new HandleFailedException(Errno.EIO, $"file #{FileId} changed (version {Version} -> {open.Entry.Version}) while its session was lost; reopen it to read the new version");
            }
            _sessionId = open.SessionId;
            Version = open.Entry.Version;
            _logger.LogInformation("Reopened file #{FileId} after its node session was lost", FileId);
        }
        finally
        {
            _reopen.Release();
        }
    }

    // ---- writes ----

    /// <summary>Copies the data and queues it for the node; returns once queued (blocks while Mount:WriteBehindBytes are in flight).</summary>
    public unsafe void Write(long offset, byte* data, int length)
    {
        if (_failure is { } failure) throw failure;
        int block = _writeBuffers.SlotBytes;
        lock (_gatherLock)
        {
            // Copied inside the callback: libfuse reuses its buffer once we return.
            for (int done = 0; done < length;)
            {
                long at = offset + done;
                int within = (int)(at % block);
                int n = Math.Min(block - within, length - done);
                var piece = new ReadOnlySpan<byte>(data + done, n);
                if (n == block)
                {
                    // Gathered bytes go first: of this block, they would land over these newer ones; of another, they
                    // would hold a write-behind slot while this write waits for one (with a single slot, for ever).
                    QueueGathered();
                    var (memory, slot, array) = Acquire(n);
                    piece.CopyTo(memory.Span);
                    _writes.Writer.TryWrite(new PendingWrite(at, memory, slot, array, null));
                }
                else Gather(at - within, within, piece);
                done += n;
            }
        }
        long end = offset + length;
        long seen;
        while (end > (seen = Interlocked.Read(ref _size)) && Interlocked.CompareExchange(ref _size, end, seen) != seen) { }
    }

    /// <summary>Write-behind room and a buffer for one write: a shared slot, or ordinary memory when none is free.</summary>
    private (Memory<byte> Memory, SharedSlot? Slot, byte[]? Array) Acquire(int length)
    {
        _writeSlots.Wait();
        var slot = length <= _writeBuffers.SlotBytes ? _writeBuffers.TryRent() : null;
        var array = slot is null ? ArrayPool<byte>.Shared.Rent(length) : null;
        return (slot is not null ? slot.Memory[..length] : array.AsMemory(0, length), slot, array);
    }

    /// <summary>
    /// Adds a piece of a block to the block being gathered: contiguous pieces of one block are queued together, as
    /// soon as they cover it or when something else comes (another block, a gap, a drain).
    /// </summary>
    private void Gather(long blockStart, int within, ReadOnlySpan<byte> piece)
    {
        if (_gathered is { } open && (open.Start != blockStart || open.End != within)) QueueGathered();
        var gathered = _gathered ??= new GatheredBlock(blockStart, within, Acquire(_writeBuffers.SlotBytes));
        piece.CopyTo(gathered.Buffer.Memory.Span[within..]);
        gathered.End = within + piece.Length;
        if (gathered.Begin == 0 && gathered.End == _writeBuffers.SlotBytes) QueueGathered();
    }

    private void QueueGathered()
    {
        if (_gathered is not { } g) return;
        _gathered = null;
        var (memory, slot, array) = g.Buffer;
        _writes.Writer.TryWrite(new PendingWrite(g.Start + g.Begin, memory[g.Begin..g.End], slot, array, null));
    }

    /// <summary>
    /// The bytes of one block (of the mount's request size, which is the node's block size by default) that writes
    /// not covering it whole have filled so far. FUSE cuts a write(2) into requests that start where the write
    /// starts, so after a checkpoint's small header every request straddles two blocks; sent one request at a time,
    /// each block reached the node in two pieces, which the node had to stage and copy once more (a quarter of the
    /// CPU of a mount write). Gathered here, the block reaches it whole and goes into the store from the slot.
    /// </summary>
    private sealed class GatheredBlock(long start, int begin, (Memory<byte> Memory, SharedSlot? Slot, byte[]? Array) buffer)
    {
        public long Start { get; } = start;
        public int Begin { get; } = begin;
        public int End { get; set; } = begin;
        public (Memory<byte> Memory, SharedSlot? Slot, byte[]? Array) Buffer { get; } = buffer;
    }

    /// <summary>Waits until every queued write reached the node; throws the handle's failure if one failed.</summary>
    public async Task DrainAsync()
    {
        if (!CanWrite) return;
        lock (_gatherLock) QueueGathered();
        var barrier = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _writes.Writer.TryWrite(new PendingWrite(0, default, null, null, barrier));
        await barrier.Task.ConfigureAwait(false);
        if (_failure is { } failure) throw failure;
    }

    private async Task PumpAsync()
    {
        FileWriteStream? stream = null;
        await foreach (var item in _writes.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            if (item.Barrier is { } barrier)
            {
                stream = await EndStreamAsync(stream).ConfigureAwait(false);
                barrier.TrySetResult();
                continue;
            }
            bool held = false, unanswered = false;
            try
            {
                if (_failure is not null) continue;
                if (stream is null)
                {
                    // A clean handle checks its session first (a cheap commit), reopening it if the node restarted.
                    if (!_uncommitted) await WithSessionAsync(s => Client.CommitAsync(s)).ConfigureAwait(false);
                    stream = Client.OpenWriteStream(_sessionId);
                }
                _uncommitted = true;
                await stream.WriteAsync(item.Offset, item.Data).ConfigureAwait(false);
                if (item.Slot is not null)
                {
                    _inStream.Add(item);
                    held = true;
                    if (_inStream.Count >= _completeAfter) stream = await EndStreamAsync(stream).ConfigureAwait(false);
                }
            }
            catch (Exception e)
            {
                Fail(e);
                unanswered = !SharedSlots.NodeAnswered(e);
                stream = await EndStreamAsync(stream, completed: false, failure: e).ConfigureAwait(false);
            }
            finally
            {
                if (!held) Free(item, retire: unanswered);
            }
        }
        await EndStreamAsync(stream, completed: false).ConfigureAwait(false);
    }

    /// <summary>Completes the stream (unless it failed), then frees the slots the node was reading from.</summary>
    /// <param name="failure">Why the stream failed, if it did: a failure the node did not answer retires its slots.</param>
    private async Task<FileWriteStream?> EndStreamAsync(FileWriteStream? stream, bool completed = true, Exception? failure = null)
    {
        if (stream is not null)
        {
            if (completed)
            {
                try { await stream.CompleteAsync().ConfigureAwait(false); }
                catch (Exception e)
                {
                    Fail(e);
                    failure = e;
                }
            }
            // Disposing closes the connection of an unfinished stream, so the node stops reading the slots; it may still
            // be copying out of one when the call returns, so those of a stream that ended unanswered are retired.
            await stream.DisposeAsync().ConfigureAwait(false);
        }
        bool retire = failure is not null && !SharedSlots.NodeAnswered(failure);
        foreach (var held in _inStream) Free(held, retire);
        _inStream.Clear();
        return null;
    }

    private void Free(PendingWrite item, bool retire = false)
    {
        if (item.Slot is null) ArrayPool<byte>.Shared.Return(item.Array!);
        else if (retire) _writeBuffers.Retire(item.Slot);
        else _writeBuffers.Return(item.Slot);
        _writeSlots.Release();
    }

    private void Fail(Exception e)
    {
        if (_failure is not null) return;
        _failure = HandleFailedException.From(e);
        _logger.LogWarning("Writes to file #{FileId} failed ({Errno}): {Reason}", FileId, _failure.Errno, e.Message);
    }

    /// <summary>fsync/flush: every write so far reaches the node, then the node commits; returns the durability reached.</summary>
    public async Task<Durability> CommitAsync()
    {
        await DrainAsync().ConfigureAwait(false);
        try
        {
            var response = await WithSessionAsync(s => Client.CommitAsync(s)).ConfigureAwait(false);
            _uncommitted = false;
            Version = response.Version;
            return response.Durability;
        }
        catch (Exception e) when (e is not HandleFailedException)
        {
            Fail(e);
            throw _failure!;
        }
    }

    public async Task TruncateAsync(long size)
    {
        await DrainAsync().ConfigureAwait(false);
        await WithSessionAsync(s => Client.TruncateAsync(s, size).ContinueWith(t => { t.GetAwaiter().GetResult(); return true; })).ConfigureAwait(false);
        _uncommitted = true;
        Interlocked.Exchange(ref _size, size);
    }

    // ---- reads ----

    public async Task<int> ReadAsync(long offset, Memory<byte> destination)
    {
        if (_readAhead is not null) return await _readAhead.ReadAsync(offset, destination).ConfigureAwait(false);
        // Reading through a writing handle sees its own writes: they must reach the node first.
        await DrainAsync().ConfigureAwait(false);
        return await WithSessionAsync(s => Client.ReadAsync(s, offset, destination)).ConfigureAwait(false);
    }

    internal Task<int> FetchAsync(long offset, Memory<byte> destination) => WithSessionAsync(s => Client.ReadAsync(s, offset, destination));

    /// <summary>The last close: commits what is uncommitted (close(2) already waited for that in flush) and ends the session.</summary>
    public async Task ReleaseAsync()
    {
        try
        {
            if (CanWrite)
            {
                try { await DrainAsync().ConfigureAwait(false); }
                catch (HandleFailedException) { }
                _writes.Writer.TryComplete();
                if (_pump is not null) await _pump.ConfigureAwait(false);
            }
            bool commit = CanWrite && _uncommitted && _failure is null;
            ulong session = _sessionId;
            await _calls.RunAsync(() => Client.CloseAsync(session, commit)).ConfigureAwait(false);
        }
        catch (FilesClientException e) when (e.Error == FilesError.SessionNotFound)
        {
        }
        finally
        {
            _readAhead?.Dispose();
        }
    }
}
