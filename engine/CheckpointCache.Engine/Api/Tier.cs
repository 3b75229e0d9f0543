namespace CheckpointCache.Engine;

/// <summary>Where a value was found.</summary>
public enum Tier
{
    None = 0,
    Ram = 1,
    Ssd = 2,
}
