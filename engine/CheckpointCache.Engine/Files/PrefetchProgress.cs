namespace CheckpointCache.Engine.Files;

/// <summary>How far a prefetch got: objects found in the cold tier under the prefix, and those restored, already here, or failed.</summary>
public sealed record PrefetchProgress
{
    public long ObjectsTotal { get; init; }
    public long BytesTotal { get; init; }
    public long ObjectsDone { get; init; }
    public long BytesDone { get; init; }
    public long ObjectsSkipped { get; init; }
    public long ObjectsFailed { get; init; }
    public bool ListingDone { get; init; }
    public string CurrentPath { get; init; } = "";
}
