using System.Runtime.InteropServices;

namespace CheckpointCache.Mount.Native;

/// <summary>
/// libfuse 3 (Debian libfuse3-3, tested with 3.14). The symbols are versioned, so the exact
/// versions are bound: fuse_new_31 and fuse_loop_mt_312 (which takes a loop config).
/// </summary>
internal static unsafe partial class Libfuse
{
    private const string Library = "libfuse3.so.3";

    [LibraryImport(Library, EntryPoint = "fuse_new_31")]
    public static partial IntPtr FuseNew(FuseArgs* args, FuseOperations* operations, nuint operationsSize, IntPtr privateData);

    [LibraryImport(Library, EntryPoint = "fuse_mount", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int FuseMount(IntPtr fuse, string mountPoint);

    [LibraryImport(Library, EntryPoint = "fuse_loop_mt_312")]
    public static partial int FuseLoopMt(IntPtr fuse, IntPtr config);

    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_create")]
    public static partial IntPtr LoopConfigCreate();

    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_destroy")]
    public static partial void LoopConfigDestroy(IntPtr config);

    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_set_max_threads")]
    public static partial void LoopConfigSetMaxThreads(IntPtr config, uint value);

    [LibraryImport(Library, EntryPoint = "fuse_loop_cfg_set_idle_threads")]
    public static partial void LoopConfigSetIdleThreads(IntPtr config, uint value);

    [LibraryImport(Library, EntryPoint = "fuse_unmount")]
    public static partial void FuseUnmount(IntPtr fuse);

    [LibraryImport(Library, EntryPoint = "fuse_destroy")]
    public static partial void FuseDestroy(IntPtr fuse);

    [LibraryImport(Library, EntryPoint = "fuse_exit")]
    public static partial void FuseExit(IntPtr fuse);
}

/// <summary>struct fuse_args: argc, argv, allocated (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseArgs
{
    public int Argc;
    public byte** Argv;
    public int Allocated;
}
