using System.Collections.Concurrent;
using CheckpointCache.Engine.Files;

namespace CheckpointCache.CloudTier.Blob;

/// <summary>Every HTTP request sent to Blob, by operation, and the bytes each way; what the metrics and the scale study read.</summary>
internal sealed class BlobRequestCounter
{
    private readonly ConcurrentDictionary<string, long> _byOperation = new(StringComparer.Ordinal);
    private long _bytesUp, _bytesDown;

    public void Request(string operation) => _byOperation.AddOrUpdate(operation, 1, (_, n) => n + 1);
    public void Up(long bytes) => Interlocked.Add(ref _bytesUp, bytes);
    public void Down(long bytes) => Interlocked.Add(ref _bytesDown, bytes);

    public ColdTierStats Snapshot() => new(new Dictionary<string, long>(_byOperation, StringComparer.Ordinal), Interlocked.Read(ref _bytesUp), Interlocked.Read(ref _bytesDown));
}
