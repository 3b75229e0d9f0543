using CheckpointCache.Node.Lifecycle;

namespace CheckpointCache.Node.Files;

/// <summary>
/// The files stores' writeback queues as the lifecycle and <c>status</c> see them. The queue is the file tree's own
/// journal (a committed file not yet uploaded stays pending across restarts), so a drain has nothing to flush beyond
/// the engine commit that follows it: exiting loses no upload, the next start resumes it.
/// </summary>
internal sealed class FilesWriteback(FileTreeRegistry files) : IWritebackQueue
{
    public bool Enabled => files.ColdTier is not null;

    public long BacklogObjects => files.Trees.Sum(t => t.GetWritebackStats().BacklogObjects);

    public long BacklogBytes => files.Trees.Sum(t => t.GetWritebackStats().BacklogBytes);

    public long BlobRequests => files.ColdTier?.GetStats().Requests ?? 0;

    public ValueTask FlushAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
