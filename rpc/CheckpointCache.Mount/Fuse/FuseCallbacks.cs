using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using CheckpointCache.Mount.FileSystem;
using CheckpointCache.Mount.Native;
using CheckpointCache.Mount.Options;

namespace CheckpointCache.Mount.Fuse;

/// <summary>
/// The entry points libfuse calls (on its own worker threads). Each catches everything: an exception
/// escaping into native code would abort the process.
/// </summary>
internal static unsafe class FuseCallbacks
{
    private static MountedFileSystem? _fs;
    private static MountOptions _options = new();

    private static MountedFileSystem Fs => _fs ?? throw new InvalidOperationException("no file system is mounted");

    public static void Attach(MountedFileSystem fs, MountOptions options)
    {
        _fs = fs;
        _options = options;
    }

    public static FuseOperations Operations() => new()
    {
        GetAttr = (IntPtr)(delegate* unmanaged[Cdecl]<byte*, void*, void*, int>)&GetAttr,
        MkDir = (IntPtr)(delegate* unmanaged[Cdecl]<byte*, uint, int>)&MkDir,
        Unlink = (IntPtr)(delegate* unmanaged[Cdecl]<byte*, int>)&Unlink,
        RmDir = (IntPtr)(delegate* unmanaged[Cdecl]<byte*, int>)&RmDir,
        Rename = (IntPtr)(delegate* unmanaged[Cdecl]<byte*, byte*, uint, int>)&Rename,
        Chmod = (IntPtr)(delegate* unmanaged[Cdecl]<byte*, uint, void*, int>)&Chmod,
        Chown = (IntPtr)(delegate* unmanaged[Cdecl]<byte*, uint, uint, void*, int>)&Chown,
        Truncate = (IntPtr)(delegate* unmanaged[Cdecl]<byte*, long, void*, int>)&Truncate,
        Open = (IntPtr)(delegate* unmanaged[Cdecl]<byte*, void*, int>)&Open,
        Read = (IntPtr)(delegate* unmanaged[Cdecl]<byte*, byte*, ulong, long, void*, int>)&Read,
        Write = (IntPtr)(delegate* unmanaged[Cdecl]<byte*, byte*, ulong, long, void*, int>)&Write,
        StatFs = (IntPtr)(delegate* unmanaged[Cdecl]<byte*, void*, int>)&StatFs,
        Flush = (IntPtr)(delegate* unmanaged[Cdecl]<byte*, void*, int>)&Flush,
        Release = (IntPtr)(delegate* unmanaged[Cdecl]<byte*, void*, int>)&Release,
        Fsync = (IntPtr)(delegate* unmanaged[Cdecl]<byte*, int, void*, int>)&Fsync,
        ReadDir = (IntPtr)(delegate* unmanaged[Cdecl]<byte*, void*, void*, long, void*, int, int>)&ReadDir,
        Init = (IntPtr)(delegate* unmanaged[Cdecl]<void*, void*, void*>)&Init,
        Create = (IntPtr)(delegate* unmanaged[Cdecl]<byte*, uint, void*, int>)&Create,
        Utimens = (IntPtr)(delegate* unmanaged[Cdecl]<byte*, long*, void*, int>)&Utimens,
    };

    private static int Guard(Func<int> body)
    {
        try { return body(); }
        catch { return -Errno.EIO; }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int GetAttr(byte* path, void* st, void* fi)
    {
        try { return Fs.GetAttr(MountedFileSystem.PathOf(path), st, fi); } catch { return -Errno.EIO; }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int MkDir(byte* path, uint mode) => Guard(() => Fs.MkDir(MountedFileSystem.PathOf(path), mode));

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Unlink(byte* path) => Guard(() => Fs.Unlink(MountedFileSystem.PathOf(path)));

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int RmDir(byte* path) => Guard(() => Fs.RmDir(MountedFileSystem.PathOf(path)));

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Rename(byte* from, byte* to, uint flags) => Guard(() => Fs.Rename(MountedFileSystem.PathOf(from), MountedFileSystem.PathOf(to), flags));

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Chmod(byte* path, uint mode, void* fi) => Guard(() => Fs.Chmod(MountedFileSystem.PathOf(path), mode));

    /// <summary>Ownership is not stored: every file belongs to the user who mounted (chown succeeds so cp -a, tar and rsync -a work).</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Chown(byte* path, uint uid, uint gid, void* fi) => 0;

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Truncate(byte* path, long size, void* fi)
    {
        try { return Fs.Truncate(MountedFileSystem.PathOf(path), size, fi); } catch { return -Errno.EIO; }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Open(byte* path, void* fi)
    {
        try { return Fs.Open(MountedFileSystem.PathOf(path), fi); } catch { return -Errno.EIO; }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Create(byte* path, uint mode, void* fi)
    {
        try { return Fs.Create(MountedFileSystem.PathOf(path), mode, fi); } catch { return -Errno.EIO; }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Read(byte* path, byte* buffer, ulong size, long offset, void* fi)
    {
        try { return Fs.Read(MountedFileSystem.PathOf(path), buffer, size, offset, fi); } catch { return -Errno.EIO; }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Write(byte* path, byte* buffer, ulong size, long offset, void* fi)
    {
        try { return Fs.Write(buffer, size, offset, fi); } catch { return -Errno.EIO; }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int StatFs(byte* path, void* statvfs)
    {
        try { return Fs.StatFs(statvfs); } catch { return -Errno.EIO; }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Flush(byte* path, void* fi)
    {
        try { return Fs.Flush(MountedFileSystem.PathOf(path), fi); } catch { return -Errno.EIO; }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Release(byte* path, void* fi)
    {
        try { return Fs.Release(MountedFileSystem.PathOf(path), fi); } catch { return -Errno.EIO; }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Fsync(byte* path, int datasync, void* fi)
    {
        try { return Fs.Fsync(MountedFileSystem.PathOf(path), fi); } catch { return -Errno.EIO; }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int ReadDir(byte* path, void* buffer, void* filler, long offset, void* fi, int flags)
    {
        try { return Fs.ReadDir(MountedFileSystem.PathOf(path), buffer, (delegate* unmanaged[Cdecl]<void*, byte*, void*, long, int, int>)filler); }
        catch { return -Errno.EIO; }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Utimens(byte* path, long* times, void* fi)
    {
        try { return Fs.Utimens(MountedFileSystem.PathOf(path), times); } catch { return -Errno.EIO; }
    }

    /// <summary>Negotiates request sizes with the kernel and sets the caching policy.</summary>
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void* Init(void* conn, void* cfg)
    {
        try
        {
            var c = (byte*)conn;
            uint io = (uint)_options.MaxIoBytes;
            *(uint*)(c + FuseLayout.ConnMaxWrite) = io;
            // Must match -o max_read, or the kernel refuses INIT.
            *(uint*)(c + FuseLayout.ConnMaxRead) = io;
            // The kernel keeps the smaller of this and the bdi's read_ahead_kb; the host raises the latter after INIT.
            *(uint*)(c + FuseLayout.ConnMaxReadahead) = (uint)Math.Max(io, _options.KernelReadAheadKiB * 1024L);
            *(uint*)(c + FuseLayout.ConnMaxBackground) = 64;
            *(uint*)(c + FuseLayout.ConnCongestionThreshold) = 48;
            var f = (byte*)cfg;
            double timeout = _options.AttributeTimeout.TotalSeconds;
            *(double*)(f + FuseLayout.ConfigEntryTimeout) = timeout;
            *(double*)(f + FuseLayout.ConfigNegativeTimeout) = 0;
            *(double*)(f + FuseLayout.ConfigAttrTimeout) = timeout;
            // Unlinking an open file removes it at once (no .fuse_hidden files); its handle keeps working.
            *(int*)(f + FuseLayout.ConfigHardRemove) = 1;
            *(int*)(f + FuseLayout.ConfigUseIno) = 1;
            // direct_io is chosen per open (writers), not for every file.
            *(int*)(f + FuseLayout.ConfigDirectIo) = 0;
            *(int*)(f + FuseLayout.ConfigNullpathOk) = 0;
        }
        catch
        {
        }
        Initialized.TrySetResult();
        return null;
    }

    /// <summary>Completes when the kernel's INIT was answered (the host then tunes the mount's bdi).</summary>
    public static TaskCompletionSource Initialized { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
