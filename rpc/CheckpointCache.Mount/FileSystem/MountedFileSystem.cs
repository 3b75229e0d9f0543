using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;
using CheckpointCache.Client.Files;
using CheckpointCache.Mount.Native;
using CheckpointCache.Mount.Options;
using CheckpointCache.Rpc.Files.V1;
using Microsoft.Extensions.Logging;
using NativeMemory = CheckpointCache.Mount.Native.NativeMemory;

namespace CheckpointCache.Mount.FileSystem;

/// <summary>
/// POSIX operations on a files store, as libfuse's high-level (path) API calls them. Each returns 0,
/// a byte count, or a negative errno; nothing throws into native code. Calls block their FUSE
/// worker thread (a native thread, not a pool thread) while the async client does the work.
/// </summary>
internal sealed class MountedFileSystem(NodeCalls calls, MountOptions options, SharedSlots readBuffers, SharedSlots writeBuffers, ILogger logger)
{
    private const int O_ACCMODE = 3, O_WRONLY = 1, O_RDWR = 2, O_EXCL = 0x80, O_TRUNC = 0x200;
    private const uint RENAME_NOREPLACE = 1, RENAME_EXCHANGE = 2;
    private const long UTIME_NOW = (1L << 30) - 1, UTIME_OMIT = (1L << 30) - 2;
    private readonly ConcurrentDictionary<ulong, OpenFile> _handles = new();
    private readonly uint _uid = getuid();
    private readonly uint _gid = getgid();
    private long _nextHandle;

    private FilesClient Client => calls.Client;
    private string Store => options.Store;

    [DllImport("libc")] private static extern uint getuid();
    [DllImport("libc")] private static extern uint getgid();

    public int OpenHandles => _handles.Count;

    public static unsafe string PathOf(byte* path) => path == null ? "" : Marshal.PtrToStringUTF8((IntPtr)path) ?? "";

    public static int ErrnoOf(Exception e) => e switch
    {
        HandleFailedException h => h.Errno,
        NodeUnavailableException => Errno.EIO,
        FilesClientException f => f.Error switch
        {
            FilesError.NotFound => Errno.ENOENT,
            FilesError.AlreadyExists => Errno.EEXIST,
            FilesError.NotEmpty => Errno.ENOTEMPTY,
            FilesError.NotADirectory => Errno.ENOTDIR,
            FilesError.IsADirectory => Errno.EISDIR,
            FilesError.InvalidArgument => Errno.EINVAL,
            FilesError.OutOfSpace => Errno.ENOSPC,
            FilesError.BadHandle => Errno.EBADF,
            FilesError.NameTooLong => Errno.ENAMETOOLONG,
            FilesError.FileTooLarge => Errno.EFBIG,
            _ => Errno.EIO,
        },
        _ => Errno.EIO,
    };

    private unsafe OpenFile? Handle(void* fi) => fi != null && _handles.TryGetValue(FuseLayout.GetFh(fi), out var h) ? h : null;

    /// <summary>Runs an operation and hands back its result, or the errno of its failure.</summary>
    private int Call<T>(string operation, string path, Func<Task<T>> body, out T? result)
    {
        result = default;
        try
        {
            result = body().GetAwaiter().GetResult();
            return 0;
        }
        catch (Exception e)
        {
            int errno = ErrnoOf(e);
            if (errno == Errno.EIO) logger.LogWarning(e, "{Operation} {Path} failed with EIO", operation, path);
            else logger.LogDebug("{Operation} {Path}: errno {Errno} ({Reason})", operation, path, errno, e.Message);
            return -errno;
        }
    }

    private int Call(string operation, string path, Func<Task> body) => Call(operation, path, async () => { await body().ConfigureAwait(false); return true; }, out _);

    private unsafe void FillStat(void* st, Entry entry, long? size = null)
    {
        var s = (byte*)st;
        new Span<byte>(s, FuseLayout.StatSize).Clear();
        bool dir = entry.Kind == EntryKind.Directory;
        long bytes = size ?? entry.Size;
        *(ulong*)(s + FuseLayout.StatIno) = (ulong)entry.Id;
        *(ulong*)(s + FuseLayout.StatNlink) = dir ? 2UL : 1UL;
        *(uint*)(s + FuseLayout.StatMode) = (dir ? FuseLayout.ModeDirectory : FuseLayout.ModeRegular) | (entry.Mode & 0xFFF);
        *(uint*)(s + FuseLayout.StatUid) = _uid;
        *(uint*)(s + FuseLayout.StatGid) = _gid;
        *(long*)(s + FuseLayout.StatSizeField) = dir ? 4096 : bytes;
        // A large preferred I/O size makes cp and friends use MiB buffers.
        *(long*)(s + FuseLayout.StatBlksize) = options.MaxIoBytes;
        *(long*)(s + FuseLayout.StatBlocks) = (bytes + 511) / 512;
        long ms = entry.ModifiedUnixMs;
        foreach (int at in new[] { FuseLayout.StatAtime, FuseLayout.StatMtime, FuseLayout.StatCtime })
        {
            *(long*)(s + at) = ms / 1000;
            *(long*)(s + at + 8) = ms % 1000 * 1_000_000;
        }
    }

    /// <summary>The size a writer on this mount has produced, which may be ahead of what reached the node.</summary>
    private long? LocalSize(long fileId)
    {
        long? size = null;
        foreach (var h in _handles.Values)
            if (h.CanWrite && h.FileId == fileId) size = Math.Max(size ?? 0, h.Size);
        return size;
    }

    public unsafe int GetAttr(string path, void* st, void* fi)
    {
        var handle = Handle(fi);
        if (handle is not null && path.Length == 0)
        {
            FillStat(st, new Entry { Id = handle.FileId, Kind = EntryKind.File, Mode = 0b110_100_100 }, handle.Size);
            return 0;
        }
        int rc = Call("getattr", path, () => calls.RunAsync(() => Client.StatAsync(path, Store)), out var entry);
        if (rc != 0) return rc;
        FillStat(st, entry!, entry!.Kind == EntryKind.File ? LocalSize(entry.Id) ?? entry.Size : null);
        return 0;
    }

    public int MkDir(string path, uint mode) => Call("mkdir", path, () => calls.RunAsync(() => Client.MkdirAsync(path, mode: mode & 0xFFF, store: Store)));

    public int Unlink(string path) => Call("unlink", path, () => calls.RunAsync(() => Client.DeleteAsync(path, expect: EntryKind.File, store: Store)));

    public int RmDir(string path) => Call("rmdir", path, () => calls.RunAsync(() => Client.DeleteAsync(path, expect: EntryKind.Directory, store: Store)));

    public int Rename(string from, string to, uint flags)
    {
        if ((flags & RENAME_EXCHANGE) != 0) return -Errno.EINVAL;
        return Call("rename", from, () => calls.RunAsync(() => Client.RenameAsync(from, to, (flags & RENAME_NOREPLACE) != 0, Store)));
    }

    public int Chmod(string path, uint mode) => Call("chmod", path, () => calls.RunAsync(() => Client.SetAttributesAsync(path, mode & 0xFFF, null, Store)));

    public unsafe int Utimens(string path, long* times)
    {
        long ms;
        if (times == null || times[3] == UTIME_NOW) ms = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        else if (times[3] == UTIME_OMIT) return 0;
        else ms = times[2] * 1000 + times[3] / 1_000_000;
        return Call("utimens", path, () => calls.RunAsync(() => Client.SetAttributesAsync(path, null, ms, Store)));
    }

    public unsafe int Truncate(string path, long size, void* fi)
    {
        var handle = Handle(fi);
        if (handle is not null && handle.CanWrite) return Call("ftruncate", path, () => handle.TruncateAsync(size));
        return Call("truncate", path, () => calls.RunAsync(() => Client.TruncatePathAsync(path, size, Store)));
    }

    public unsafe int Open(string path, void* fi) => OpenCore("open", path, fi, create: false, 0);

    public unsafe int Create(string path, uint mode, void* fi) => OpenCore("create", path, fi, create: true, mode);

    private unsafe int OpenCore(string operation, string path, void* fi, bool create, uint mode)
    {
        int flags = FuseLayout.GetFlags(fi);
        int access = flags & O_ACCMODE;
        bool canWrite = access is O_WRONLY or O_RDWR;
        bool canRead = access != O_WRONLY;
        var open = (canRead ? OpenFlags.OpenRead : 0) | (canWrite ? OpenFlags.OpenWrite : 0);
        if ((flags & O_TRUNC) != 0 && canWrite) open |= OpenFlags.OpenTruncate;
        if (create)
        {
            open |= OpenFlags.OpenCreate | OpenFlags.OpenWrite;
            if ((flags & O_EXCL) != 0) open |= OpenFlags.OpenExclusive;
            canWrite = true;
        }
        int rc = Call(operation, path, () => calls.RunAsync(() => Client.OpenAsync(path, open, mode & 0xFFF, Store)), out var response);
        if (rc != 0) return rc;
        // Writers use direct_io: no page cache in between, so close and fsync see every byte, nothing is cached
        // twice, and the kernel's dirty-page limits do not throttle a checkpoint. Readers go through the page
        // cache (dropped at each open), which lets the kernel read ahead with several requests in flight and
        // lets torch.load map the file.
        bool directIo = canWrite || !options.CachedReads;
        // Only direct_io readers need our read-ahead. The kernel's arrives out of order (several requests on
        // several threads), which ours took for random reads: a third of the bytes then crossed the socket into
        // fresh memory, and windows fetched some of the same bytes again.
        int readAhead = directIo ? options.ReadAheadBytes : 0;
        var file = new OpenFile(calls, response!, canRead, canWrite, Store, options.WriteBehindBytes / options.MaxIoBytes, readAhead,
            readBuffers, writeBuffers, logger);
        ulong fh = (ulong)Interlocked.Increment(ref _nextHandle);
        _handles[fh] = file;
        FuseLayout.SetFh(fi, fh);
        if (directIo) FuseLayout.SetDirectIo(fi);
        return 0;
    }

    public unsafe int Read(string path, byte* buffer, ulong size, long offset, void* fi)
    {
        var handle = Handle(fi);
        if (handle is null) return -Errno.EBADF;
        using var memory = new NativeMemory(buffer, (int)size);
        var destination = memory.Memory;
        int rc = Call("read", path, () => handle.ReadAsync(offset, destination), out var n);
        return rc != 0 ? rc : n;
    }

    public unsafe int Write(byte* buffer, ulong size, long offset, void* fi)
    {
        var handle = Handle(fi);
        if (handle is null) return -Errno.EBADF;
        try
        {
            handle.Write(offset, buffer, (int)size);
            return (int)size;
        }
        catch (Exception e)
        {
            return -ErrnoOf(e);
        }
    }

    public unsafe int StatFs(void* statvfs)
    {
        int rc = Call("statfs", "/", () => calls.RunAsync(() => Client.UsageAsync(Store)), out var usage);
        if (rc != 0) return rc;
        var s = (ulong*)statvfs;
        new Span<byte>(s, FuseLayout.StatVfsSize).Clear();
        const ulong fragment = 4096;
        s[0] = (ulong)options.MaxIoBytes;           // f_bsize
        s[1] = fragment;                            // f_frsize
        s[2] = (ulong)usage!.TotalBytes / fragment; // f_blocks
        s[3] = (ulong)Math.Max(0, usage.TotalBytes - usage.UsedBytes) / fragment; // f_bfree
        s[4] = s[3];                                // f_bavail
        s[5] = 1UL << 32;                           // f_files
        s[6] = s[5] - (ulong)(usage.Files + usage.Directories); // f_ffree
        s[7] = s[6];                                // f_favail
        s[10] = 255;                                // f_namemax
        return 0;
    }

    /// <summary>close(2) of one descriptor: the writes so far reach the node and are committed before close returns.</summary>
    public unsafe int Flush(string path, void* fi)
    {
        var handle = Handle(fi);
        if (handle is null || !handle.CanWrite) return 0;
        return Call("flush", path, () => handle.CommitAsync());
    }

    public unsafe int Fsync(string path, void* fi) => Flush(path, fi);

    public unsafe int Release(string path, void* fi)
    {
        if (fi == null || !_handles.TryRemove(FuseLayout.GetFh(fi), out var handle)) return 0;
        return Call("release", path, () => handle.ReleaseAsync());
    }

    public unsafe int ReadDir(string path, void* buffer, delegate* unmanaged[Cdecl]<void*, byte*, void*, long, int, int> filler)
    {
        int rc = Call("readdir", path, () => calls.RunAsync(() => Client.ListAsync(path, Store)), out var entries);
        if (rc != 0) return rc;
        var st = stackalloc byte[FuseLayout.StatSize];
        Fill(filler, buffer, ".", null);
        Fill(filler, buffer, "..", null);
        foreach (var entry in entries!)
        {
            FillStat(st, entry);
            if (Fill(filler, buffer, entry.Name, st) != 0) break;
        }
        return 0;
    }

    private static unsafe int Fill(delegate* unmanaged[Cdecl]<void*, byte*, void*, long, int, int> filler, void* buffer, string name, void* st)
    {
        int length = Encoding.UTF8.GetByteCount(name);
        var bytes = stackalloc byte[length + 1];
        Encoding.UTF8.GetBytes(name, new Span<byte>(bytes, length));
        bytes[length] = 0;
        return filler(buffer, bytes, st, 0, 0);
    }

    /// <summary>Closes what is still open when the file system goes away (unmount): committed writes are kept.</summary>
    public void ReleaseAll()
    {
        foreach (var fh in _handles.Keys.ToList())
        {
            if (!_handles.TryRemove(fh, out var handle)) continue;
            try { handle.ReleaseAsync().GetAwaiter().GetResult(); }
            catch (Exception e) { logger.LogWarning(e, "Closing file #{FileId} at unmount failed", handle.FileId); }
        }
    }
}
