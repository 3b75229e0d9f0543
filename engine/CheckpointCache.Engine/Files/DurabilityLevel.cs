namespace CheckpointCache.Engine.Files;

/// <summary>How far a commit got: Local, Replicated (in a replicated store, with the count on the session), Persisted (with the cloud tier).</summary>
public enum DurabilityLevel
{
    /// <summary>On this node's SSD: survives a crash of the node process or the machine.</summary>
    Local = 1,
    /// <summary>On this node and at least one other (the session's Replicas says how many).</summary>
    Replicated = 2,
    /// <summary>In the cold tier (Blob): this version was uploaded under the file's current path.</summary>
    Persisted = 3,
}
