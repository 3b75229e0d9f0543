namespace CheckpointCache.Engine.Files;

/// <summary>The writeback queue of one files store: what waits to be uploaded, and what was uploaded, failed or restored.</summary>
public sealed record WritebackStats
{
    public long BacklogObjects { get; init; }
    public long BacklogBytes { get; init; }
    public long PendingRemoteDeletes { get; init; }
    public long UploadedObjects { get; init; }
    public long UploadedBytes { get; init; }
    public long Failures { get; init; }
    public long RestoredObjects { get; init; }
    public long RestoredBytes { get; init; }
    public long RemoteDeletes { get; init; }
}
