namespace CheckpointCache.Mount.FileSystem;

/// <summary>One slot of <see cref="SharedSlots"/>: memory the node reads from and writes into directly.</summary>
internal sealed record SharedSlot(int Index, Memory<byte> Memory);
