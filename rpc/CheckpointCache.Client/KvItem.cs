namespace CheckpointCache.Client;

/// <summary>One key and value for <see cref="CacheClient.BatchPutAsync"/>.</summary>
public readonly record struct KvItem(ReadOnlyMemory<byte> Key, ReadOnlyMemory<byte> Value);
