namespace CheckpointCache.Engine.Files;

/// <summary>The cold tier holds an object that fails verification (length or checksum), or cannot be reached.</summary>
public sealed class ColdTierException(string message, Exception? inner = null) : Exception(message, inner);
