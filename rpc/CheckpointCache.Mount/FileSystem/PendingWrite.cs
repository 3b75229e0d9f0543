namespace CheckpointCache.Mount.FileSystem;

/// <summary>A write that returned to the application and is on its way to the node, or a barrier that waits for all before it.</summary>
internal sealed record PendingWrite(long Offset, byte[]? Buffer, int Length, TaskCompletionSource? Barrier);
