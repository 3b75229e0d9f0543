using CheckpointCache.Engine;
using CheckpointCache.Node.Metrics;
using CheckpointCache.Node.Options;
using Grpc.Core;

namespace CheckpointCache.Node;

/// <summary>
/// Opens, feeds and publishes the items of a BatchPut the same way for every transport (gRPC and the data
/// socket): the same per-item limits, the same engine errors turned into the same statuses, the same metrics.
/// </summary>
public sealed class PutAdmission(Microsoft.Extensions.Options.IOptions<LimitsOptions> limits, NodeMetrics metrics)
{
    private readonly LimitsOptions _limits = limits.Value;

    /// <summary>An item whose bytes can be written, or a refused one that swallows them and carries the reason.</summary>
    internal PutItem Start(ResolvedNamespace ns, int index, ReadOnlySpan<byte> key, ulong totalLength)
    {
        if (KeyCheck.Problem(key.Length, index, _limits) is { } keyProblem)
            return Refuse(ns, index, totalLength, StatusCode.InvalidArgument, keyProblem);
        if (totalLength > (ulong)_limits.MaxValueBytes.Bytes)
            return Refuse(ns, index, totalLength, StatusCode.InvalidArgument, $"item {index}: total_length {totalLength} is over Limits:MaxValueBytes ({_limits.MaxValueBytes})");
        try
        {
            var engineKey = ns.EngineKey(key);
            var writer = ns.Store.BeginPut(engineKey, (long)totalLength);
            return PutItem.Accepted(index, (long)totalLength, writer, engineKey);
        }
        catch (CacheException e) when (e.Code != CacheErrorCode.ShuttingDown)
        {
            return Refuse(ns, index, totalLength, RpcErrors.CodeOf(e), $"item {index}: {e.Message}");
        }
    }

    private PutItem Refuse(ResolvedNamespace ns, int index, ulong totalLength, StatusCode code, string message)
    {
        metrics.ItemError(ns.Declared.Store, "put", code);
        return PutItem.Refused(index, (long)Math.Min(totalLength, long.MaxValue), code, message);
    }

    internal async ValueTask WriteAsync(PutItem item, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        try
        {
            await item.AcceptAsync(data, ct);
        }
        catch (CacheException e) when (e.Code != CacheErrorCode.ShuttingDown)
        {
            await item.FailAsync(RpcErrors.CodeOf(e), $"item {item.Index}: {e.Message}");
        }
    }

    /// <summary>Publishes an accepted item (exactly its declared bytes arrived) and counts the outcome.</summary>
    internal async ValueTask FinishAsync(PutItem item, ResolvedNamespace ns, CancellationToken ct)
    {
        if (item.Code != StatusCode.OK) return;
        try
        {
            await item.CloseAsync(ct);
        }
        catch (CacheException e) when (e.Code != CacheErrorCode.ShuttingDown)
        {
            await item.FailAsync(RpcErrors.CodeOf(e), $"item {item.Index}: {e.Message}");
        }
        if (item.Code == StatusCode.OK) metrics.Put(ns.Declared, item.TotalLength, item.Elapsed);
        else metrics.ItemError(ns.Declared.Store, "put", item.Code);
    }
}
