namespace CheckpointCache.Node.Lifecycle;

/// <summary>
/// The cloud tier's writeback queue as the node's lifecycle and status see it. Nothing implements it until the
/// cloud tier exists; the cloud tier registers its implementation in the service container, and a drain (or
/// SIGTERM) then calls <see cref="FlushAsync"/> before the engine's final commit.
/// </summary>
public interface IWritebackQueue
{
    /// <summary>Whether a cloud tier is configured (Cloud:Enabled).</summary>
    bool Enabled { get; }

    /// <summary>Committed values not yet uploaded.</summary>
    long BacklogObjects { get; }

    /// <summary>Bytes of those values.</summary>
    long BacklogBytes { get; }

    /// <summary>Requests sent to Blob storage since start.</summary>
    long BlobRequests { get; }

    /// <summary>
    /// Uploads (or durably records, for a later upload by this or another node) what is queued, returning when
    /// nothing would be lost by the process exiting. Cancelled when the drain's time is up.
    /// </summary>
    ValueTask FlushAsync(CancellationToken cancellationToken);
}
