using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using CheckpointCache.Engine.Files;

namespace CheckpointCache.Files.Tests;

/// <summary>
/// A cold tier in memory for engine tests of the writeback state: it can be "down" (every call fails, as an outage),
/// and it records every upload and delete it served.
/// </summary>
public sealed class MemoryColdTier : IColdTier
{
    public ConcurrentDictionary<string, byte[]> Objects { get; } = new(StringComparer.Ordinal);
    public ConcurrentQueue<string> Uploads { get; } = new();
    public ConcurrentQueue<string> Deletes { get; } = new();
    public volatile bool Down;

    public bool WritesBack(string store) => true;
    public bool ShouldPersist(string store, string path) => true;
    public bool DeleteRemoteOnDelete { get; init; } = true;
    public int ConcurrentUploads => 2;
    public TimeSpan MaxRetryDelay => TimeSpan.FromMilliseconds(100);
    public TimeSpan NegativeCacheTime => TimeSpan.Zero;

    private void Check()
    {
        if (Down) throw new IOException("the cold tier is down");
    }

    public async Task UploadAsync(string store, string path, long version, long size, Stream content, CancellationToken cancellationToken)
    {
        Check();
        var buffer = new MemoryStream();
        await content.CopyToAsync(buffer, cancellationToken);
        Assert.Equal(size, buffer.Length);
        Objects[path] = buffer.ToArray();
        Uploads.Enqueue(path);
    }

    public Task DeleteAsync(string store, string path, CancellationToken cancellationToken)
    {
        Check();
        Objects.TryRemove(path, out _);
        Deletes.Enqueue(path);
        return Task.CompletedTask;
    }

    public async Task<ColdObjectInfo?> DownloadAsync(string store, string path, Func<long, ReadOnlyMemory<byte>, CancellationToken, Task> sink, CancellationToken cancellationToken)
    {
        Check();
        if (!Objects.TryGetValue(path, out var bytes)) return null;
        await sink(0, bytes, cancellationToken);
        return new ColdObjectInfo(path, bytes.Length, 1, 0);
    }

    public async IAsyncEnumerable<ColdObjectInfo> ListAsync(string store, string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Check();
        foreach (var (path, bytes) in Objects)
            if (path.StartsWith(prefix, StringComparison.Ordinal)) yield return new ColdObjectInfo(path, bytes.Length, 1, 0);
        await Task.CompletedTask;
    }

    public ColdTierStats GetStats() => new(new Dictionary<string, long>(), 0, 0);
}
