using System.Buffers;
using System.Diagnostics;
using CheckpointCache.Client;
using CheckpointCache.Cluster;
using CheckpointCache.Cluster.Replication;
using CheckpointCache.Engine;
using CheckpointCache.Node.Metrics;
using CheckpointCache.Node.Options;
using CheckpointCache.Rpc.Kv.V1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Tier = CheckpointCache.Engine.Tier;

namespace CheckpointCache.Node;

/// <summary>
/// The KV-cache API (kv.proto) over the engine's public API. Whole-call problems fail the call with a
/// status; per-key problems are per-key results, because partial success is normal for a cache.
/// Every engine call gets the call's cancellation token, which fires when the deadline expires.
/// </summary>
public sealed class KvCacheService(
    NamespaceResolver resolver,
    NamespaceRegistry registry,
    IOptions<LimitsOptions> limitsOptions,
    NodeMetrics metrics,
    ClusterNode cluster,
    PutAdmission admission,
    ILogger<KvCacheService> logger) : KvCache.KvCacheBase
{
    /// <summary>Smallest frame a client may ask for; below this framing costs more than the data.</summary>
    public const int MinFrameBytes = 4096;

    private readonly LimitsOptions _limits = limitsOptions.Value;

    public override Task<DeclareNamespaceResponse> DeclareNamespace(DeclareNamespaceRequest request, ServerCallContext context)
    {
        var descriptor = request.Descriptor_ ?? throw RpcErrors.InvalidArgument("descriptor is missing");
        try
        {
            KeySpec.Validate(descriptor);
        }
        catch (ArgumentException e)
        {
            throw RpcErrors.InvalidArgument("descriptor: " + e.Message);
        }
        int bytes = NamespaceRegistry.DescriptorBytes(descriptor);
        if (bytes > _limits.MaxDescriptorBytes)
            throw RpcErrors.InvalidArgument($"descriptor is {bytes} bytes, over Limits:MaxDescriptorBytes ({_limits.MaxDescriptorBytes})");
        var store = NamespaceResolver.StoreName(request.Store);
        resolver.Store(store);

        var outcome = registry.Declare(store, descriptor, out var declared);
        if (outcome == DeclareOutcome.LimitReached)
            throw RpcErrors.ResourceExhausted($"{registry.Count} namespaces are declared, the most Limits:MaxNamespaces ({_limits.MaxNamespaces}) allows");
        return Task.FromResult(new DeclareNamespaceResponse
        {
            Namespace = new NamespaceRef { Store = store, Id = ByteString.CopyFrom(declared.Id) },
            KeySpecVersion = KeySpec.Version,
            Created = outcome == DeclareOutcome.Created,
        });
    }

    public override async Task<BatchPutResponse> BatchPut(IAsyncStreamReader<PutFrame> requestStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var response = new BatchPutResponse();
        // Copies to the other owners of a hashed store run while the next items arrive; the answer waits for them.
        var replications = new List<(KeyStatus Status, Task<int> Copies)>();
        ResolvedNamespace? ns = null;
        PutItem? item = null;
        long batchBytes = 0;
        int frames = 0;
        try
        {
            while (await requestStream.MoveNext(ct))
            {
                var frame = requestStream.Current;
                frames++;
                if (ns is null)
                    ns = resolver.Resolve(frame.Namespace);
                else if (frame.Namespace is not null && !SameNamespace(frame.Namespace, ns))
                    throw RpcErrors.InvalidArgument($"frame {frames} names another namespace; one BatchPut writes into one namespace");

                if (frame.NewItem)
                {
                    if (item is not null) await CloseAsync(item, ns, response, replications, ct);
                    item = null;
                    int index = response.Results.Count;
                    if (index + 1 > _limits.MaxBatchKeys)
                        throw RpcErrors.ResourceExhausted($"item {index} is one more than Limits:MaxBatchKeys ({_limits.MaxBatchKeys}) allows in one call");
                    if (frame.TotalLength > (ulong)_limits.MaxBatchBytes.Bytes - (ulong)batchBytes)
                        throw RpcErrors.ResourceExhausted($"item {index} brings the call to more than Limits:MaxBatchBytes ({_limits.MaxBatchBytes})");
                    batchBytes += (long)frame.TotalLength;
                    item = admission.Start(ns, index, frame.Key.Span, frame.TotalLength);
                }
                else if (item is null)
                {
                    // A frame that only names the namespace may open the stream.
                    if (frame.Data.IsEmpty && frame.Key.IsEmpty && frame.TotalLength == 0) continue;
                    throw RpcErrors.InvalidArgument($"frame {frames} carries data before any item began: the first frame of each item must have new_item = true");
                }
                else if (!frame.Key.IsEmpty || frame.TotalLength != 0)
                {
                    throw RpcErrors.InvalidArgument($"frame {frames} carries a key or total_length but new_item is false (item {item.Index} is still receiving data)");
                }

                if (!frame.Data.IsEmpty)
                {
                    if (frame.Data.Length > MaxPutFrameData)
                        throw RpcErrors.InvalidArgument($"frame {frames} carries {frame.Data.Length} bytes of data, more than {MaxPutFrameData} (Limits:MaxReceiveMessageBytes less framing)");
                    await admission.WriteAsync(item, frame.Data.Memory, ct);
                }
            }
            if (item is not null) await CloseAsync(item, ns!, response, replications, ct);
            item = null;
            foreach (var (status, copies) in replications) status.Replicas = (uint)await copies;
            return response;
        }
        finally
        {
            // Cancelled, deadline expired, stream cut or refused: the open item is abandoned, never published.
            if (item is not null) await item.DisposeAsync();
        }
    }

    private long MaxPutFrameData => _limits.MaxReceiveMessageBytes.Bytes - OptionsValidation.FrameOverheadBytes - _limits.MaxKeyBytes;

    private async ValueTask CloseAsync(PutItem item, ResolvedNamespace ns, BatchPutResponse response, List<(KeyStatus, Task<int>)> replications, CancellationToken ct)
    {
        await admission.FinishAsync(item, ns, ct);
        var status = new KeyStatus { Index = (uint)item.Index, Code = (int)item.Code, Message = item.Message };
        response.Results.Add(status);
        if (item.Code != StatusCode.OK) return;
        if (cluster.IsHashed(ns.Store.Name)) replications.Add((status, cluster.ReplicateWriteAsync(ns.Store, item.EngineKey!, ct)));
        else status.Replicas = 1;
    }

    public override async Task BatchGet(BatchGetRequest request, IServerStreamWriter<GetFrame> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var ns = resolver.Resolve(request.Namespace);
        if (request.Keys.Count > _limits.MaxBatchKeys)
            throw RpcErrors.ResourceExhausted($"{request.Keys.Count} keys in one call, over Limits:MaxBatchKeys ({_limits.MaxBatchKeys})");
        int frameBytes = request.MaxFrameBytes == 0
            ? (int)_limits.MaxFrameBytes.Bytes
            : (int)Math.Clamp(request.MaxFrameBytes, MinFrameBytes, _limits.MaxFrameBytes.Bytes);

        long sent = 0;
        using var chunks = new ChunkBuffer();
        for (int i = 0; i < request.Keys.Count; i++)
        {
            var key = request.Keys[i];
            if (KeyCheck.Problem(key, i, _limits) is { } problem)
            {
                metrics.ItemError(ns.Declared.Store, "get", StatusCode.InvalidArgument);
                await responseStream.WriteAsync(Failed(i, StatusCode.InvalidArgument, problem), ct);
                continue;
            }
            var started = Stopwatch.GetTimestamp();
            var engineKey = ns.EngineKey(key.Span);
            using var reader = await ns.Store.OpenReadAsync(engineKey, ct);
            if (reader is null && cluster.IsHashed(ns.Store.Name))
            {
                // Not held here: the key's owners (reads try local, then owners; the cloud tier comes after them).
                using var remote = await cluster.OpenFromOwnersAsync(ns.Store.Name, engineKey, ct);
                if (remote is not null)
                {
                    if (remote.Length > _limits.MaxBatchBytes.Bytes - sent)
                    {
                        metrics.ItemError(ns.Declared.Store, "get", StatusCode.ResourceExhausted);
                        await responseStream.WriteAsync(Failed(i, StatusCode.ResourceExhausted,
                            $"key {i}: its {remote.Length} bytes would bring the call over Limits:MaxBatchBytes ({_limits.MaxBatchBytes}); ask for it in another call"), ct);
                        continue;
                    }
                    if (await StreamRemoteAsync(i, remote, frameBytes, responseStream, ct)) sent += remote.Length;
                    else metrics.Miss(ns.Declared);
                    continue;
                }
            }
            if (reader is null)
            {
                metrics.Miss(ns.Declared);
                await responseStream.WriteAsync(Failed(i, StatusCode.NotFound, $"key {i} is not cached"), ct);
                continue;
            }
            if (reader.Length > _limits.MaxBatchBytes.Bytes - sent)
            {
                metrics.ItemError(ns.Declared.Store, "get", StatusCode.ResourceExhausted);
                await responseStream.WriteAsync(Failed(i, StatusCode.ResourceExhausted,
                    $"key {i}: its {reader.Length} bytes would bring the call over Limits:MaxBatchBytes ({_limits.MaxBatchBytes}); ask for it in another call"), ct);
                continue;
            }
            bool served = await StreamValueAsync(i, reader, chunks.Fit(reader.ChunkLength), frameBytes, responseStream, ct);
            if (served) sent += reader.Length;
            metrics.Served(ns.Declared, served, reader, started);
        }
    }

    /// <summary>
    /// Streams one value as frames of at most <paramref name="frameBytes"/>. Chunk 0 is read before
    /// anything is sent, so a value that is already gone is a plain miss; a chunk that vanishes later
    /// becomes an abort frame, and the client drops what it got for that index. False when it was a miss.
    /// </summary>
    private async ValueTask<bool> StreamValueAsync(int index, IObjectReader reader, byte[] buffer, int frameBytes,
        IServerStreamWriter<GetFrame> responseStream, CancellationToken ct)
    {
        bool firstSent = false;
        for (int c = 0; c < Math.Max(1, reader.ChunkCount); c++)
        {
            var (n, lost) = await ChunkBuffer.ReadAsync(reader, c, buffer, index, logger, ct);
            if (lost is not null)
            {
                await responseStream.WriteAsync(firstSent
                    ? new GetFrame { Index = (uint)index, First = false, Code = (int)StatusCode.NotFound, Message = lost }
                    : Failed(index, StatusCode.NotFound, lost), ct);
                return false;
            }
            int offset = 0;
            do
            {
                int length = Math.Min(frameBytes, n - offset);
                // The frame is serialised before WriteAsync completes, so wrapping the reused buffer is safe.
                var frame = new GetFrame { Index = (uint)index, Data = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(offset, length)) };
                if (!firstSent)
                {
                    frame.First = true;
                    frame.TotalLength = (ulong)reader.Length;
                    frame.Tier = ToProto(reader.Tier);
                    firstSent = true;
                }
                await responseStream.WriteAsync(frame, ct);
                offset += length;
            } while (offset < n);
        }
        return true;
    }

    /// <summary>Relays a value streamed from another member; an abort from it becomes an abort frame here. False when it was a miss.</summary>
    private async ValueTask<bool> StreamRemoteAsync(int index, RemoteValue remote, int frameBytes, IServerStreamWriter<GetFrame> responseStream, CancellationToken ct)
    {
        bool firstSent = false;
        try
        {
            await foreach (var data in remote.ReadAsync(ct))
            {
                for (int offset = 0; offset < data.Length || (data.Length == 0 && !firstSent);)
                {
                    int length = Math.Min(frameBytes, data.Length - offset);
                    var frame = new GetFrame { Index = (uint)index, Data = UnsafeByteOperations.UnsafeWrap(data.Slice(offset, length)) };
                    if (!firstSent)
                    {
                        frame.First = true;
                        frame.TotalLength = (ulong)remote.Length;
                        frame.Tier = Rpc.Kv.V1.Tier.Peer;
                        firstSent = true;
                    }
                    await responseStream.WriteAsync(frame, ct);
                    offset += length;
                    if (data.Length == 0) break;
                }
            }
            if (!firstSent)
                await responseStream.WriteAsync(new GetFrame { Index = (uint)index, First = true, TotalLength = 0, Tier = Rpc.Kv.V1.Tier.Peer }, ct);
            return true;
        }
        catch (RemoteValueLostException e)
        {
            logger.LogWarning("Value {Index} from {Source} was lost while being relayed: {Reason}", index, remote.Source, e.Message);
            var reason = $"key {index}: value is no longer cached ({e.Message})";
            await responseStream.WriteAsync(firstSent
                ? new GetFrame { Index = (uint)index, First = false, Code = (int)StatusCode.NotFound, Message = reason }
                : Failed(index, StatusCode.NotFound, reason), ct);
            return false;
        }
    }

    public override async Task<ExistsResponse> Exists(KeysRequest request, ServerCallContext context)
    {
        var ns = resolver.Resolve(request.Namespace);
        KeyCheck.RequireAll(request.Keys, _limits);
        var response = new ExistsResponse();
        foreach (var key in request.Keys)
            response.Tiers.Add(ToProto(await ns.Store.ExistsAsync(ns.EngineKey(key.Span), context.CancellationToken)));
        return response;
    }

    public override async Task<DeleteResponse> Delete(KeysRequest request, ServerCallContext context)
    {
        var ns = resolver.Resolve(request.Namespace);
        KeyCheck.RequireAll(request.Keys, _limits);
        var response = new DeleteResponse();
        var engineKeys = request.Keys.Select(k => ns.EngineKey(k.Span)).ToList();
        foreach (var key in engineKeys)
            response.Deleted.Add(await ns.Store.DeleteAsync(key, context.CancellationToken));
        if (cluster.IsHashed(ns.Store.Name))
        {
            // Every owner drops its copy, or rebalancing would bring the value back.
            var remote = await cluster.RemoveFromOwnersAsync(ns.Store.Name, engineKeys, context.CancellationToken);
            for (int i = 0; i < remote.Count; i++) response.Deleted[i] |= remote[i];
        }
        return response;
    }

    public override async Task<LookupResponse> Lookup(LookupRequest request, ServerCallContext context)
    {
        var ns = resolver.Resolve(request.Namespace);
        KeyCheck.RequireAll(request.Keys, _limits);
        var ttl = TimeSpan.FromMilliseconds(Math.Min(request.PinTtlMs, _limits.MaxPinTtl.TotalMilliseconds));
        var until = DateTimeOffset.UtcNow + ttl;
        bool pin = request.PinTtlMs > 0 && ttl > TimeSpan.Zero;

        var response = new LookupResponse();
        foreach (var key in request.Keys)
        {
            var engineKey = ns.EngineKey(key.Span);
            // Pin before looking: a block reported as cached was already pinned, so eviction cannot slip in between.
            if (pin) ns.Store.Pin(engineKey, until);
            var tier = await ns.Store.ExistsAsync(engineKey, context.CancellationToken);
            if (tier == Tier.None) break;
            response.Tiers.Add(ToProto(tier));
        }
        response.PrefixLength = (uint)response.Tiers.Count;
        if (pin && response.PrefixLength > 0) response.PinnedUntilUnixMs = (ulong)until.ToUnixTimeMilliseconds();
        return response;
    }

    private static GetFrame Failed(int index, StatusCode code, string message)
        => new() { Index = (uint)index, First = true, Code = (int)code, Message = message };

    private static bool SameNamespace(NamespaceRef reference, ResolvedNamespace ns)
        => NamespaceResolver.StoreName(reference.Store) == ns.Declared.Store && reference.Id.Span.SequenceEqual(ns.Declared.Id);

    internal static Rpc.Kv.V1.Tier ToProto(Tier tier) => tier switch
    {
        Tier.Ram => Rpc.Kv.V1.Tier.Ram,
        Tier.Ssd => Rpc.Kv.V1.Tier.Ssd,
        _ => Rpc.Kv.V1.Tier.None,
    };
}
