namespace CheckpointCache.Engine.Files;

/// <summary>Every request sent to the cold tier (each HTTP attempt, retries included) by operation, and the bytes each way.</summary>
public sealed record ColdTierStats(IReadOnlyDictionary<string, long> RequestsByOperation, long BytesUp, long BytesDown)
{
    public long Requests => RequestsByOperation.Values.Sum();
}
