namespace CheckpointCache.Engine.Files;

/// <summary>Counters of the writeback queue and of restores; fields so they can be incremented with Interlocked.</summary>
internal sealed class WritebackCounters
{
    public long UploadedObjects;
    public long UploadedBytes;
    public long Failures;
    public long RemoteDeletes;
    public long RestoredObjects;
    public long RestoredBytes;
}
