using CheckpointCache.Engine.Files;

namespace CheckpointCache.Cluster.Replication;

/// <summary>The files stores this node replicates, by name: what the peer service and rebalancing work on.</summary>
public sealed class ReplicatedFileStores
{
    private readonly Dictionary<string, FileTree> _trees = new(StringComparer.Ordinal);

    public IReadOnlyCollection<FileTree> Trees => _trees.Values;

    internal void Add(FileTree tree) => _trees[tree.NamespaceName] = tree;

    public FileTree? Find(string store) => _trees.GetValueOrDefault(store);
}
