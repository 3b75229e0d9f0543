namespace CheckpointCache.Mount.FileSystem;

/// <summary>Linux errno values the mount returns (negated, as libfuse wants them).</summary>
internal static class Errno
{
    public const int EPERM = 1, ENOENT = 2, EIO = 5, EBADF = 9, EACCES = 13, EEXIST = 17, EXDEV = 18, ENOTDIR = 20, EISDIR = 21,
        EINVAL = 22, EFBIG = 27, ENOSPC = 28, ENAMETOOLONG = 36, ENOSYS = 38, ENOTEMPTY = 39, EOPNOTSUPP = 95;
}
