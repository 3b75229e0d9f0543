namespace CheckpointCache.Node.Tests.Cluster;

/// <summary>Multi-process cluster tests run one at a time: each starts several nodes and an etcd on two cores.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClusterCollection
{
    public const string Name = "cluster processes";
}
