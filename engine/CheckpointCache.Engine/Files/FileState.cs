namespace CheckpointCache.Engine.Files;

/// <summary>Where a file object stands, as Status reports it.</summary>
public enum FileState
{
    /// <summary>Every byte is committed; nothing is staged.</summary>
    Committed = 1,
    /// <summary>A session holds uncommitted writes; readers see the last committed version.</summary>
    Writing = 2,
    /// <summary>Some block the committed version refers to cannot be found (evicted or corrupt).</summary>
    Damaged = 3,
}
