namespace CheckpointCache.Cluster.Options;

/// <summary>Source of the member list.</summary>
public enum MembershipKind
{
    /// <summary>Cluster:StaticMembers, for small or test setups; no failure detection.</summary>
    Static,
    /// <summary>Each node registers under an etcd lease kept alive on one stream and watches the member prefix.</summary>
    Etcd,
}
