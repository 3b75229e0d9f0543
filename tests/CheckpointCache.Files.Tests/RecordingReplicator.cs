using System.Collections.Concurrent;
using CheckpointCache.Engine.Files;

namespace CheckpointCache.Files.Tests;

/// <summary>A replicator that reaches no network: it records what the tree asked of it and answers as if one other node took each copy.</summary>
public sealed class RecordingReplicator(string origin) : IFileReplicator
{
    public ConcurrentQueue<string> Replicated { get; } = new();
    public ConcurrentQueue<string> Removed { get; } = new();
    public ConcurrentQueue<(string Source, string Target)> Renamed { get; } = new();

    public string Origin => origin;
    public TimeSpan TombstoneRetention => TimeSpan.FromDays(1);

    public Task<int> ReplicateAsync(FileTree tree, CommittedFile file, CancellationToken cancellationToken)
    {
        Replicated.Enqueue(file.Path);
        return Task.FromResult(2);
    }

    public Task RemovedAsync(FileTree tree, IReadOnlyList<string> paths, FileStamp stamp, CancellationToken cancellationToken)
    {
        foreach (var p in paths) Removed.Enqueue(p);
        return Task.CompletedTask;
    }

    public Task RenamedAsync(FileTree tree, IReadOnlyList<(string Source, string Target)> moves, FileStamp stamp, CancellationToken cancellationToken)
    {
        foreach (var m in moves) Renamed.Enqueue(m);
        return Task.CompletedTask;
    }

    public Task<bool> FetchAsync(FileTree tree, string path, CancellationToken cancellationToken) => Task.FromResult(false);

    public Task<IReadOnlyList<ReplicaEntry>> ListAsync(FileTree tree, string directory, CancellationToken cancellationToken)
        => Task.FromResult<IReadOnlyList<ReplicaEntry>>([]);
}
