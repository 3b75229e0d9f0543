namespace CheckpointCache.Engine.Files;

/// <summary>How far a commit got. Local and Persisted (with the cloud tier) exist; Replicated is reserved for replicated files.</summary>
public enum DurabilityLevel
{
    /// <summary>On this node's SSD: survives a crash of the node process or the machine.</summary>
    Local = 1,
    /// <summary>On k nodes (reserved).</summary>
    Replicated = 2,
    /// <summary>In the cold tier (Blob): this version was uploaded under the file's current path.</summary>
    Persisted = 3,
}
