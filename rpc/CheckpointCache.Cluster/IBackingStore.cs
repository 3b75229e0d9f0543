namespace CheckpointCache.Cluster;

/// <summary>
/// The seam for the cloud tier (Blob), which does not exist yet. Reads are to try this node, then the key's
/// owners, then <see cref="TryOpenAsync"/>; after a replicated write, only the key's first-ranked owner is to call
/// <see cref="EnqueueUpload"/>, so one replica uploads. Neither call site is wired and nothing implements it today,
/// so no request ever goes to Blob and the blob request counters stay at zero.
/// </summary>
public interface IBackingStore
{
    /// <summary>Opens a value from the cloud; null when it is not there.</summary>
    ValueTask<Stream?> TryOpenAsync(string store, ReadOnlyMemory<byte> key, CancellationToken cancellationToken);

    /// <summary>Queues a committed value for lazy upload (durable queue, rate-limited, one uploader per key).</summary>
    void EnqueueUpload(string store, ReadOnlyMemory<byte> key);

    /// <summary>Every request sent to the cloud since start.</summary>
    long Requests { get; }
}
