namespace CheckpointCache.Engine.Files;

/// <summary>
/// A cold tier behind the files layer (Blob storage, in the node): where committed files are written back
/// lazily and restored from on a miss. The engine decides what is pending and when; the implementation
/// moves bytes, limits its own request and byte rates, retries transient failures and counts every request.
/// Objects are named by (store, logical path); one object per path holds its latest persisted version.
/// </summary>
public interface IColdTier
{
    /// <summary>Whether committed files of <paramref name="store"/> are written back (mode Writeback) or only read through (CacheOnly).</summary>
    bool WritesBack(string store);

    /// <summary>Whether the persist policy selects <paramref name="path"/> (all files, patterns, every Nth checkpoint directory).</summary>
    bool ShouldPersist(string store, string path);

    /// <summary>Whether deleting (or renaming away) a persisted file deletes its remote copy too.</summary>
    bool DeleteRemoteOnDelete { get; }

    /// <summary>Objects uploaded at once by one store's writeback queue.</summary>
    int ConcurrentUploads { get; }

    /// <summary>Longest pause between two attempts of a failed upload or delete; the backlog waits, nothing is dropped.</summary>
    TimeSpan MaxRetryDelay { get; }

    /// <summary>How long a path found absent in the cold tier is not asked about again (bounds HEADs from stat of absent files).</summary>
    TimeSpan NegativeCacheTime { get; }

    /// <summary>Uploads <paramref name="size"/> bytes of <paramref name="content"/> as the object of <paramref name="path"/>, atomically replacing what was there.</summary>
    Task UploadAsync(string store, string path, long version, long size, Stream content, CancellationToken cancellationToken);

    /// <summary>Deletes the object of <paramref name="path"/>; absent is success.</summary>
    Task DeleteAsync(string store, string path, CancellationToken cancellationToken);

    /// <summary>
    /// Streams the object of <paramref name="path"/> into <paramref name="sink"/> (offset, bytes), verifying its length and
    /// checksum; returns null when there is no such object. A retried download writes the same offsets again. Throws
    /// <see cref="ColdTierException"/> when the object fails verification: never wrong bytes.
    /// </summary>
    Task<ColdObjectInfo?> DownloadAsync(string store, string path, Func<long, ReadOnlyMemory<byte>, CancellationToken, Task> sink, CancellationToken cancellationToken);

    /// <summary>The objects of <paramref name="store"/> whose logical path starts with <paramref name="prefix"/>.</summary>
    IAsyncEnumerable<ColdObjectInfo> ListAsync(string store, string prefix, CancellationToken cancellationToken);

    /// <summary>Requests and bytes sent to the cold tier since start.</summary>
    ColdTierStats GetStats();
}
