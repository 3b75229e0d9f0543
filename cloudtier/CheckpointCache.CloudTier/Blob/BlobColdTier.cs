using System.Buffers;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Text;
using Azure;
using Azure.Core;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using CheckpointCache.CloudTier.Options;
using CheckpointCache.CloudTier.Policy;
using CheckpointCache.CloudTier.Throttling;
using CheckpointCache.Engine.Files;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.CloudTier.Blob;

/// <summary>
/// The cold tier on Azure Blob Storage: one block blob per (store, path) holding the last persisted version, with
/// the logical path, version, size and XXH64 checksum in its metadata. Large objects go up as staged blocks
/// (<see cref="CloudTierOptions.BlockBytes"/>, <see cref="CloudTierOptions.UploadParallelism"/> at once) published
/// by one Put Block List, so a reader never sees a half-written object; small ones are one Put Blob. Downloads are
/// verified against length and checksum before the caller commits them.
/// </summary>
public sealed class BlobColdTier : IColdTier
{
    private readonly CloudTierOptions _options;
    private readonly BlobContainerClient _container;
    private readonly ILogger _logger;
    private readonly BlobRequestCounter _counter = new();
    private readonly RetryRunner _retry;
    private readonly Dictionary<string, PersistPolicy> _policies = new(StringComparer.Ordinal);
    private readonly PersistPolicy _defaultPolicy;
    private readonly SemaphoreSlim _containerGate = new(1, 1);
    private volatile bool _containerReady;

    public BlobColdTier(CloudTierOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        _retry = new RetryRunner(options.MaxAttempts, options.MinBackoff, options.MaxBackoff, logger);
        _defaultPolicy = new PersistPolicy(options.Persist);
        foreach (var (store, s) in options.Stores)
            if (s.Persist is not null) _policies[store] = new PersistPolicy(s.Persist);

        var clientOptions = new BlobClientOptions();
        // The SDK's retries would hide requests from the counter and the limits: ours run above the pipeline.
        clientOptions.Retry.MaxRetries = 0;
        clientOptions.Retry.NetworkTimeout = options.RequestTimeout;
        var requests = new TokenBucket(options.MaxRequestsPerSecond, Math.Max(1, options.MaxRequestsPerSecond));
        var bytes = new TokenBucket(options.MaxBytesPerSecond, Math.Max(options.MaxBytesPerSecond, options.BlockBytes));
        clientOptions.AddPolicy(new CountingPolicy(_counter, requests, bytes), HttpPipelinePosition.PerRetry);
        var service = string.IsNullOrWhiteSpace(options.ConnectionString)
            ? WithDefaultCredential(new Uri(options.AccountUri), clientOptions)
            : new BlobServiceClient(options.ConnectionString, clientOptions);
        _container = service.GetBlobContainerClient(options.Container);
    }

    // Its own method, so Azure.Identity is loaded only when an account URI (not a connection string) is configured.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static BlobServiceClient WithDefaultCredential(Uri account, BlobClientOptions options)
        => new(account, new Azure.Identity.DefaultAzureCredential(), options);

    public string Endpoint => _container.Uri.GetLeftPart(UriPartial.Authority);
    public string ContainerName => _container.Name;
    public long Retries => Interlocked.Read(ref _retry.Retries);

    public bool WritesBack(string store) => _options.ModeOf(store) == CloudMode.Writeback;
    public bool ShouldPersist(string store, string path) => (_policies.GetValueOrDefault(store) ?? _defaultPolicy).Selects(path);
    public bool DeleteRemoteOnDelete => _options.DeleteRemoteOnDelete;
    public int ConcurrentUploads => _options.ConcurrentUploads;
    public TimeSpan MaxRetryDelay => _options.MaxRetryDelay;
    public TimeSpan NegativeCacheTime => _options.NegativeCacheTime;
    public ColdTierStats GetStats() => _counter.Snapshot();

    private async Task EnsureContainerAsync(CancellationToken cancellationToken)
    {
        if (_containerReady || !_options.CreateContainer) return;
        await _containerGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_containerReady) return;
            await _retry.RunAsync("create container", ct => _container.CreateIfNotExistsAsync(cancellationToken: ct), cancellationToken).ConfigureAwait(false);
            _containerReady = true;
        }
        finally
        {
            _containerGate.Release();
        }
    }

    public async Task UploadAsync(string store, string path, long version, long size, Stream content, CancellationToken cancellationToken)
    {
        await EnsureContainerAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await UploadCoreAsync(store, path, version, size, content, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.ErrorCode == "ContainerNotFound")
        {
            // Deleted (or lost) behind our back: created again before the queue's next try.
            _containerReady = false;
            throw;
        }
    }

    private async Task UploadCoreAsync(string store, string path, long version, long size, Stream content, CancellationToken cancellationToken)
    {
        var blob = _container.GetBlockBlobClient(BlobNaming.NameOf(store, path));
        var headers = new BlobHttpHeaders { ContentType = "application/octet-stream" };
        int blockBytes = (int)Math.Min(_options.BlockBytes, int.MaxValue - 1024);
        var hasher = new XxHash64();
        if (size <= blockBytes)
        {
            var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(size, 1));
            try
            {
                int n = await content.ReadAtLeastAsync(buffer.AsMemory(0, (int)size), (int)size, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                if (n != size) throw new IOException($"'{path}' gave {n} of its {size} bytes");
                hasher.Append(buffer.AsSpan(0, n));
                var metadata = BlobNaming.Metadata(store, path, version, size, hasher.GetCurrentHashAsUInt64());
                await _retry.RunAsync("put blob", ct => blob.UploadAsync(new MemoryStream(buffer, 0, n, writable: false),
                    new BlobUploadOptions { HttpHeaders = headers, Metadata = metadata }, ct), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            return;
        }

        var ids = new List<string>();
        var staging = new List<Task>();
        using var slots = new SemaphoreSlim(_options.UploadParallelism);
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            for (long offset = 0; offset < size; offset += blockBytes)
            {
                await slots.WaitAsync(failed.Token).ConfigureAwait(false);
                int want = (int)Math.Min(blockBytes, size - offset);
                var buffer = ArrayPool<byte>.Shared.Rent(want);
                int n;
                try
                {
                    n = await content.ReadAtLeastAsync(buffer.AsMemory(0, want), want, throwOnEndOfStream: false, failed.Token).ConfigureAwait(false);
                    if (n != want) throw new IOException($"'{path}' gave {offset + n} of its {size} bytes");
                }
                catch
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    slots.Release();
                    throw;
                }
                hasher.Append(buffer.AsSpan(0, n));
                // Fixed-length ids: Blob requires every block id of a blob to have the same length.
                var id = Convert.ToBase64String(Encoding.ASCII.GetBytes($"blk-{ids.Count:d8}"));
                ids.Add(id);
                staging.Add(StageAsync(blob, id, buffer, n, slots, failed));
            }
            await Task.WhenAll(staging).ConfigureAwait(false);
        }
        catch
        {
            failed.Cancel();
            try { await Task.WhenAll(staging).ConfigureAwait(false); } catch { /* the first error is the one reported */ }
            throw;
        }
        var meta = BlobNaming.Metadata(store, path, version, size, hasher.GetCurrentHashAsUInt64());
        await _retry.RunAsync("commit block list", ct => blob.CommitBlockListAsync(ids, new CommitBlockListOptions { HttpHeaders = headers, Metadata = meta }, ct),
            cancellationToken).ConfigureAwait(false);
    }

    private async Task StageAsync(BlockBlobClient blob, string id, byte[] buffer, int length, SemaphoreSlim slots, CancellationTokenSource failed)
    {
        try
        {
            await _retry.RunAsync("put block", ct => blob.StageBlockAsync(id, new MemoryStream(buffer, 0, length, writable: false), new BlockBlobStageBlockOptions(), ct),
                failed.Token).ConfigureAwait(false);
        }
        catch
        {
            failed.Cancel();
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            slots.Release();
        }
    }

    public async Task DeleteAsync(string store, string path, CancellationToken cancellationToken)
    {
        var blob = _container.GetBlobClient(BlobNaming.NameOf(store, path));
        try
        {
            await _retry.RunAsync("delete", ct => blob.DeleteIfExistsAsync(DeleteSnapshotsOption.IncludeSnapshots, conditions: null, ct), cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            // No container yet: nothing to delete.
        }
    }

    public async Task<ColdObjectInfo?> DownloadAsync(string store, string path, Func<long, ReadOnlyMemory<byte>, CancellationToken, Task> sink, CancellationToken cancellationToken)
    {
        var blob = _container.GetBlobClient(BlobNaming.NameOf(store, path));
        return await _retry.RunAsync<ColdObjectInfo?>("get", async ct =>
        {
            BlobDownloadStreamingResult result;
            try
            {
                result = (await blob.DownloadStreamingAsync(new BlobDownloadOptions(), ct).ConfigureAwait(false)).Value;
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                return null;
            }
            using (result)
            {
                if (!BlobNaming.TryRead(result.Details.Metadata, out var version, out var size, out var checksum))
                    throw new ColdTierException($"blob '{blob.Name}' has no CheckpointCache metadata (version, size, checksum)");
                if (size != result.Details.ContentLength)
                    throw new ColdTierException($"blob '{blob.Name}' is {result.Details.ContentLength} bytes but its metadata says {size}");
                var hasher = new XxHash64();
                // Whole 4 MiB pieces at aligned offsets, so the files layer stores whole blocks without merging.
                var buffer = ArrayPool<byte>.Shared.Rent(4 << 20);
                long offset = 0;
                try
                {
                    while (true)
                    {
                        int n = await result.Content.ReadAtLeastAsync(buffer.AsMemory(0, 4 << 20), 4 << 20, throwOnEndOfStream: false, ct).ConfigureAwait(false);
                        if (n == 0) break;
                        hasher.Append(buffer.AsSpan(0, n));
                        await sink(offset, buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                        offset += n;
                        if (n < 4 << 20) break;
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
                if (offset != size) throw new IOException($"blob '{blob.Name}' ended after {offset} of {size} bytes");
                var actual = hasher.GetCurrentHashAsUInt64();
                if (actual != checksum) throw new ColdTierException($"blob '{blob.Name}' fails its checksum (XXH64 {actual:x16}, metadata says {checksum:x16})");
                return new ColdObjectInfo(path, size, version, checksum);
            }
        }, cancellationToken).ConfigureAwait(false);
    }

    public async IAsyncEnumerable<ColdObjectInfo> ListAsync(string store, string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Names start with a hash, so a logical prefix is no blob-name prefix: the whole container is listed (5000 per request).
        string? continuation = null;
        while (true)
        {
            Page<BlobItem>? page;
            try
            {
                page = await _retry.RunAsync("list", async ct =>
                {
                    await foreach (var p in _container.GetBlobsAsync(new GetBlobsOptions { Traits = BlobTraits.Metadata }, ct).AsPages(continuation, 5000).WithCancellation(ct).ConfigureAwait(false))
                        return p;
                    return null;
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                yield break; // no container: nothing was ever uploaded
            }
            if (page is null) yield break;
            foreach (var item in page.Values)
            {
                if (BlobNaming.Parse(item.Name) is not { } name || name.Store != store || !name.Path.StartsWith(prefix, StringComparison.Ordinal)) continue;
                if (!BlobNaming.TryRead(item.Metadata, out var version, out var size, out var checksum)) continue;
                yield return new ColdObjectInfo(name.Path, size, version, checksum);
            }
            continuation = page.ContinuationToken;
            if (string.IsNullOrEmpty(continuation)) yield break;
        }
    }
}
