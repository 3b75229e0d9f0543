namespace CheckpointCache.CloudTier.Options;

/// <summary>What the cloud tier does for a files store.</summary>
public enum CloudMode
{
    /// <summary>Committed files the persist policy selects are uploaded lazily; misses read through.</summary>
    Writeback,
    /// <summary>Nothing is uploaded; misses still read through and Prefetch still works (a model loaded from Blob).</summary>
    CacheOnly,
}
