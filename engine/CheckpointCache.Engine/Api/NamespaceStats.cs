namespace CheckpointCache.Engine;

/// <summary>A snapshot of one namespace's counters, for the metrics layer to export.</summary>
public sealed record NamespaceStats
{
    public required string Name { get; init; }
    public required NamespaceKind Kind { get; init; }
    public long RamHits { get; init; }
    public long SsdHits { get; init; }
    public long Misses { get; init; }
    public long RamBytesRead { get; init; }
    public long SsdBytesRead { get; init; }
    public long Puts { get; init; }
    public long BytesWritten { get; init; }
    public long Deletes { get; init; }
    /// <summary>Times the SSD tier was trimmed.</summary>
    public long Evictions { get; init; }
    public long EvictedBytes { get; init; }
    /// <summary>Log bytes compaction has gone over (pinned namespaces), and the part of them it gave back.</summary>
    public long CompactedLogBytes { get; init; }
    public long CompactionFreedBytes { get; init; }
    /// <summary>Estimated bytes of deleted or replaced records still on disk (pinned namespaces).</summary>
    public long GarbageBytes { get; init; }
    public long CorruptionEvents { get; init; }
    public long OutOfSpaceRejections { get; init; }
    /// <summary>Log bytes held in memory.</summary>
    public long RamBytesUsed { get; init; }
    /// <summary>Bytes the namespace's folder occupies on disk.</summary>
    public long SsdBytesUsed { get; init; }
    public long RamBudgetBytes { get; init; }
    public long SsdBudgetBytes { get; init; }
    public long Commits { get; init; }
    public TimeSpan RecoveryTime { get; init; }
}
