namespace CheckpointCache.Cluster.Replication;

/// <summary>What became of one version sent to a peer.</summary>
internal enum FileCopyOutcome
{
    /// <summary>The peer stored it.</summary>
    Stored,
    /// <summary>The peer already holds this version or a newer one (or deleted the path later): nothing to do.</summary>
    NewerHeld,
    /// <summary>The peer did not answer or refused (space, checksum): another member is tried, or rebalancing retries.</summary>
    Failed,
}
