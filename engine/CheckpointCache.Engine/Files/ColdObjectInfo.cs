namespace CheckpointCache.Engine.Files;

/// <summary>One object in the cold tier: the logical path it holds, its size, the local version it was written from and its checksum.</summary>
public sealed record ColdObjectInfo(string Path, long Size, long Version, ulong Checksum);
