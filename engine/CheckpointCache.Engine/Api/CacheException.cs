namespace CheckpointCache.Engine;

/// <summary>A refusal the caller can act on; the message names the limit that was broken.</summary>
public sealed class CacheException(CacheErrorCode code, string message) : Exception(message)
{
    public CacheErrorCode Code { get; } = code;
}
