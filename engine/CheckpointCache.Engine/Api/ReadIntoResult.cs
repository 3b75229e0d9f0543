namespace CheckpointCache.Engine;

/// <summary>How <see cref="ICacheNamespace.ReadIntoAsync"/> ended.</summary>
public enum ReadIntoOutcome : byte
{
    /// <summary>Absent, evicted, or failed its checksum; what the destination holds means nothing.</summary>
    Miss,
    /// <summary>The whole value is in the destination's first <see cref="ReadIntoResult.Length"/> bytes.</summary>
    Hit,
    /// <summary>The value is longer than the destination; nothing was written.</summary>
    TooSmall,
}

/// <summary>The outcome, the value's length (also when it did not fit) and the tier it came from.</summary>
public readonly record struct ReadIntoResult(ReadIntoOutcome Outcome, long Length, Tier Tier)
{
    public static ReadIntoResult Miss => new(ReadIntoOutcome.Miss, 0, Tier.None);
}
