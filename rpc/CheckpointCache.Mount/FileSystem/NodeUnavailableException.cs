namespace CheckpointCache.Mount.FileSystem;

/// <summary>The node stayed unreachable for Mount:NodeRetryTimeout; the operation fails with EIO.</summary>
internal sealed class NodeUnavailableException(string message, Exception inner) : Exception(message, inner);
