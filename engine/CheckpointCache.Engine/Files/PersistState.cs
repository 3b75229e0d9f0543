namespace CheckpointCache.Engine.Files;

/// <summary>Where a committed version of a file stands with the cold tier.</summary>
public enum PersistState
{
    /// <summary>No writeback for this store, or the persist policy does not select the file (or it is gone).</summary>
    NotSelected,
    /// <summary>The writeback queue will upload it.</summary>
    Pending,
    /// <summary>This version (or a later one) is in the cold tier under the file's current path.</summary>
    Persisted,
}
