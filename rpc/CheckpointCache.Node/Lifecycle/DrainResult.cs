namespace CheckpointCache.Node.Lifecycle;

/// <summary>What a drain did; <see cref="Completed"/> is false when a step ran out of time or failed (see <see cref="Notes"/>).</summary>
public sealed record DrainResult(
    bool Completed,
    long WritesWaited,
    bool Committed,
    bool LeftCluster,
    long KeysHandedOff,
    TimeSpan Elapsed,
    IReadOnlyList<string> Notes);
