namespace CheckpointCache.Engine.Files;

/// <summary>
/// What stat and list return for one entry. <see cref="Size"/> is the committed size, or while
/// sessions write to the file, the size the most recently written one would publish.
/// </summary>
public sealed record EntryInfo
{
    public required string Name { get; init; }
    public required EntryKind Kind { get; init; }
    /// <summary>Stable id (an inode number): survives renames and restarts.</summary>
    public required long Id { get; init; }
    public long Size { get; init; }
    public long CommittedSize { get; init; }
    /// <summary>Increments at every commit that changed the file.</summary>
    public long Version { get; init; }
    public long ModifiedUnixMs { get; init; }
    /// <summary>Permission bits (07777); the type bits come from <see cref="Kind"/>.</summary>
    public int Mode { get; init; }
    /// <summary>Sessions open for writing on the file.</summary>
    public int OpenWriters { get; init; }
    /// <summary>Entries of a directory.</summary>
    public int ChildCount { get; init; }
}
