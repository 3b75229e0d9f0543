namespace CheckpointCache.Engine.Files;

/// <summary>Space of a files namespace, for statfs and df.</summary>
public sealed record FilesUsage(long TotalBytes, long UsedBytes, long Files, long Directories, int BlockBytes);
