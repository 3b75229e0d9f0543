namespace CheckpointCache.Engine.Files;

/// <summary>A file (or the tombstone of one, or a subdirectory) as a node reports it to others: enough to tell who holds which version.</summary>
public sealed record ReplicaEntry(string Path, FileStamp Stamp, long Size, bool Tombstone, bool IsDirectory = false)
{
    public string Name => Path[(Path.LastIndexOf('/') + 1)..];

    public string Directory => FilePath.DirectoryOf(Path);
}
