using System.Runtime.InteropServices;

namespace CheckpointCache.Mount.Native;

/// <summary>struct fuse_operations of libfuse 3.14: 42 function pointers (336 bytes), in this order.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FuseOperations
{
    public IntPtr GetAttr, ReadLink, MkNod, MkDir, Unlink, RmDir, SymLink, Rename, Link, Chmod, Chown, Truncate,
        Open, Read, Write, StatFs, Flush, Release, Fsync, SetXAttr, GetXAttr, ListXAttr, RemoveXAttr,
        OpenDir, ReadDir, ReleaseDir, FsyncDir, Init, Destroy, Access, Create, Lock, Utimens, Bmap, Ioctl, Poll,
        WriteBuf, ReadBuf, Flock, Fallocate, CopyFileRange, Lseek;
}
