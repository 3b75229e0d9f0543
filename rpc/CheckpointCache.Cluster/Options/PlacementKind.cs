namespace CheckpointCache.Cluster.Options;

/// <summary>Where the copies of a store's keys live.</summary>
public enum PlacementKind
{
    /// <summary>On the node that received the write, and nowhere else (KV blocks).</summary>
    Local,
    /// <summary>On the Replicas members that rendezvous hashing ranks highest for the key (checkpoint data).</summary>
    Hashed,
}
