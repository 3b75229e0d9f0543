using Azure.Core;
using Azure.Core.Pipeline;
using CheckpointCache.CloudTier.Throttling;

namespace CheckpointCache.CloudTier.Blob;

/// <summary>
/// Sits in the SDK pipeline per retry, so it sees every HTTP request that leaves the node: counts it by operation
/// with its bytes, and makes it wait for the request and byte token buckets first (a download pays for its bytes
/// when their length is known, before they are read).
/// </summary>
internal sealed class CountingPolicy(BlobRequestCounter counter, TokenBucket requests, TokenBucket bytes) : HttpPipelinePolicy
{
    public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        long up = message.Request.Content is { } content && content.TryComputeLength(out var length) ? length : 0;
        await requests.TakeAsync(1, message.CancellationToken).ConfigureAwait(false);
        await bytes.TakeAsync(up, message.CancellationToken).ConfigureAwait(false);
        counter.Request(Operation(message.Request));
        try
        {
            await ProcessNextAsync(message, pipeline).ConfigureAwait(false);
        }
        catch
        {
            // Not answered (refused, reset, timed out): the bytes may not have left, and are counted only when answered.
            bytes.Refund(up);
            throw;
        }
        counter.Up(up);
        if (message.HasResponse && message.Response.Headers.ContentLength is { } down && down > 0)
        {
            counter.Down(down);
            await bytes.TakeAsync(down, message.CancellationToken).ConfigureAwait(false);
        }
    }

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        => ProcessAsync(message, pipeline).AsTask().GetAwaiter().GetResult();

    /// <summary>The Blob REST operation of a request, from its method and query ("comp", "restype").</summary>
    internal static string Operation(Request request)
    {
        var query = request.Uri.Query;
        bool Has(string part) => query.Contains(part, StringComparison.OrdinalIgnoreCase);
        if (request.Method == RequestMethod.Put)
        {
            if (Has("comp=blocklist")) return "commit_block_list";
            if (Has("comp=block")) return "put_block";
            if (Has("restype=container")) return "create_container";
            if (Has("comp=metadata")) return "set_metadata";
            return "put_blob";
        }
        if (request.Method == RequestMethod.Get) return Has("comp=list") ? "list" : Has("comp=blocklist") ? "get_block_list" : Has("restype=container") ? "get_container" : "get";
        if (request.Method == RequestMethod.Head) return "head";
        if (request.Method == RequestMethod.Delete) return Has("restype=container") ? "delete_container" : "delete";
        return request.Method.Method.ToLowerInvariant();
    }
}
