namespace CheckpointCache.Engine.Files;

/// <summary>A path deleted (or renamed away) with <paramref name="Stamp"/>: copies of it older than the stamp are not taken back.</summary>
internal sealed record Tombstone(string Path, FileStamp Stamp, long AtUnixMs);
