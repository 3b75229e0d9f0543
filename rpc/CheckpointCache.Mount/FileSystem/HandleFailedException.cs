using CheckpointCache.Client.Files;
using CheckpointCache.Rpc.Files.V1;

namespace CheckpointCache.Mount.FileSystem;

/// <summary>
/// An open file can no longer go on: its uncommitted writes are lost (the node restarted or refused
/// one). Every later write, fsync and close of it fails with this errno; reopening the file works.
/// </summary>
internal sealed class HandleFailedException(int errno, string message, Exception? inner = null) : Exception(message, inner)
{
    public int Errno { get; } = errno;

    public static HandleFailedException From(Exception e) => e switch
    {
        HandleFailedException h => h,
        FilesClientException { Error: FilesError.OutOfSpace } => new HandleFailedException(FileSystem.Errno.ENOSPC, e.Message, e),
        FilesClientException { Error: FilesError.FileTooLarge } => new HandleFailedException(FileSystem.Errno.EFBIG, e.Message, e),
        _ => new HandleFailedException(FileSystem.Errno.EIO, e.Message, e),
    };
}
