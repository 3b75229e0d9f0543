namespace CheckpointCache.Mount.FileSystem;

/// <summary>
/// A write that returned to the application and is on its way to the node, its bytes in a shared slot (which the node
/// reads until the write stream completes) or a pooled array; or a barrier that waits for all before it.
/// </summary>
internal sealed record PendingWrite(long Offset, ReadOnlyMemory<byte> Data, SharedSlot? Slot, byte[]? Array, TaskCompletionSource? Barrier);
