namespace CheckpointCache.Engine.Files;

/// <summary>
/// Copies a replicated files store's committed versions to other nodes (the cluster implements it; the engine
/// knows nothing of how). The tree calls it after a local commit, rename or delete has become durable here, and
/// on a local miss before asking the cold tier. Failures are reported as counts, never thrown: the local change
/// stands and the cluster's rebalancing tops copies up later.
/// </summary>
public interface IFileReplicator
{
    /// <summary>This node's member id, stamped on the versions it writes.</summary>
    string Origin { get; }

    /// <summary>How long a delete's tombstone is kept (it must outlive the longest time a node can be away and come back with old data).</summary>
    TimeSpan TombstoneRetention { get; }

    /// <summary>Sends the committed version <paramref name="file"/> to the other holders; returns how many nodes hold it now (this one included).</summary>
    Task<int> ReplicateAsync(FileTree tree, CommittedFile file, CancellationToken cancellationToken);

    /// <summary>Files were deleted (or renamed away) here with <paramref name="stamp"/>: the other holders drop theirs.</summary>
    Task RemovedAsync(FileTree tree, IReadOnlyList<string> paths, FileStamp stamp, CancellationToken cancellationToken);

    /// <summary>Files were renamed here (each pair source, target) with <paramref name="stamp"/>.</summary>
    Task RenamedAsync(FileTree tree, IReadOnlyList<(string Source, string Target)> moves, FileStamp stamp, CancellationToken cancellationToken);

    /// <summary>A path that is not here: copies it from a node that holds it; false when none does (or none answers).</summary>
    Task<bool> FetchAsync(FileTree tree, string path, CancellationToken cancellationToken);

    /// <summary>
    /// The files, subdirectories and tombstones other holders have directly in <paramref name="directory"/>, plus an
    /// entry for the directory itself when one of them has it.
    /// </summary>
    Task<IReadOnlyList<ReplicaEntry>> ListAsync(FileTree tree, string directory, CancellationToken cancellationToken);
}
