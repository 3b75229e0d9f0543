namespace CheckpointCache.Engine.Files;

/// <summary>How far a commit got. Only Local exists now; Replicated and Persisted come with the cluster and cloud tiers.</summary>
public enum DurabilityLevel
{
    /// <summary>On this node's SSD: survives a crash of the node process or the machine.</summary>
    Local = 1,
    /// <summary>On k nodes (reserved).</summary>
    Replicated = 2,
    /// <summary>In the cloud tier (reserved).</summary>
    Persisted = 3,
}
