namespace CheckpointCache.Engine;

/// <summary>
/// Writes one value of a declared length as a stream of bytes. Nothing is visible to readers
/// until <see cref="CompleteAsync"/> writes the manifest; disposing without completing abandons
/// the chunks written so far (they are reclaimed with the log).
/// </summary>
public interface IObjectWriter : IAsyncDisposable
{
    long Length { get; }
    long Written { get; }
    ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default);
    /// <summary>Publishes the value; throws <see cref="CacheException"/> with LengthMismatch if bytes are missing.</summary>
    ValueTask CompleteAsync(CancellationToken cancellationToken = default);
}
