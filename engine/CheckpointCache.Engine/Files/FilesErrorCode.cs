namespace CheckpointCache.Engine.Files;

/// <summary>Why the files layer refused an operation; front doors map these to gRPC statuses and errno.</summary>
public enum FilesErrorCode
{
    /// <summary>ENOENT: the path, or one of its parents, does not exist.</summary>
    NotFound,
    /// <summary>EEXIST: the path exists and the caller asked for a new one.</summary>
    AlreadyExists,
    /// <summary>ENOTEMPTY: a directory that is not empty cannot be removed or replaced.</summary>
    NotEmpty,
    /// <summary>ENOTDIR: a parent (or the target of a directory operation) is a file.</summary>
    NotADirectory,
    /// <summary>EISDIR: a file operation on a directory.</summary>
    IsADirectory,
    /// <summary>EINVAL: a bad path, offset, size or combination of flags.</summary>
    InvalidArgument,
    /// <summary>ENOSPC: the namespace is full; nothing was dropped to make room.</summary>
    OutOfSpace,
    /// <summary>The open file (session) is unknown: it was closed, expired, or the node restarted.</summary>
    SessionNotFound,
    /// <summary>EBADF: the session was opened read-only, or write-only for a read.</summary>
    BadHandle,
    /// <summary>EIO: data the file refers to cannot be read back (evicted or corrupt); never returned as zeros.</summary>
    DataLost,
    /// <summary>ENAMETOOLONG: a path or name over the configured limits.</summary>
    NameTooLong,
    /// <summary>EFBIG: a write or truncation past Files:MaxFileBytes.</summary>
    FileTooLarge,
}
