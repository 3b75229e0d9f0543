namespace CheckpointCache.Engine;

public sealed record EngineStats(IReadOnlyList<NamespaceStats> Namespaces, TimeSpan RecoveryTime);
