namespace CheckpointCache.Engine.Files;

/// <summary>One kind of metadata change; each is one journal record, so each is atomic.</summary>
internal enum JournalOp : byte
{
    Mkdir = 1,
    Create = 2,
    Rename = 3,
    Delete = 4,
    CommitFile = 5,
    SetAttributes = 6,
    /// <summary>A file's version reached the cold tier under a path (Id, Version, Name = path).</summary>
    Persisted = 7,
    /// <summary>A remote copy was deleted (Name = path).</summary>
    RemoteDeleted = 8,
    /// <summary>A delete made on another node reached this one for a path it does not hold (Name = path, Stamp).</summary>
    Tombstone = 9,
}
