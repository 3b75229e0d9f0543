using System.Buffers;
using CheckpointCache.Cluster.Replication;
using CheckpointCache.Engine;
using CheckpointCache.Rpc.Peer.V1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Cluster.Peers;

/// <summary>The peer service (peer.proto) over this node's engine: what other members call to copy, read, check and remove data.</summary>
public sealed partial class PeerService(ICacheEngine engine, ClusterCounters counters, ReplicatedFileStores files, ILogger<PeerService> logger) : Peer.PeerBase
{
    public const int FrameBytes = 1024 * 1024;

    private ICacheNamespace Store(string name)
        => engine.TryGetNamespace(name, out var ns) && ns is not null ? ns
            : throw new RpcException(new Status(StatusCode.NotFound, $"store '{name}' is not configured on this node"));

    public override async Task<ReplicateResponse> Replicate(IAsyncStreamReader<ReplicateFrame> requestStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var response = new ReplicateResponse();
        ICacheNamespace? store = null;
        IObjectWriter? writer = null;
        ReplicateReason reason = ReplicateReason.Write;
        int index = -1;
        long received = 0, total = 0;
        string error = "";
        try
        {
            while (await requestStream.MoveNext(ct))
            {
                var f = requestStream.Current;
                store ??= Store(f.Store);
                if (f.NewItem)
                {
                    if (index >= 0) await CloseAsync();
                    index++;
                    reason = f.Reason;
                    received = 0;
                    total = (long)f.TotalLength;
                    error = "";
                    try { writer = store.BeginPut(f.Key.Memory, total); }
                    catch (CacheException e) { error = e.Message; writer = null; }
                }
                if (f.Data.IsEmpty) continue;
                received += f.Data.Length;
                if (writer is null) continue;
                try { await writer.WriteAsync(f.Data.Memory, ct); }
                catch (CacheException e) { error = e.Message; await writer.DisposeAsync(); writer = null; }
            }
            if (index >= 0) await CloseAsync();
            return response;
        }
        finally
        {
            if (writer is not null) await writer.DisposeAsync(); // a cut stream publishes nothing of its open item
        }

        async Task CloseAsync()
        {
            var code = StatusCode.OK;
            if (writer is null) code = StatusCode.ResourceExhausted;
            else if (received != total) { code = StatusCode.InvalidArgument; error = $"{received} of {total} bytes arrived"; }
            else
            {
                try { await writer.CompleteAsync(ct); }
                catch (CacheException e) { code = StatusCode.ResourceExhausted; error = e.Message; }
            }
            if (writer is not null) { await writer.DisposeAsync(); writer = null; }
            if (code == StatusCode.OK) counters.Received(reason, total);
            else logger.LogWarning("Copy {Index} from a peer into {Store} refused: {Error}", index, store!.Name, error);
            response.Results.Add(new ItemResult { Index = (uint)index, Code = (int)code, Message = error });
        }
    }

    public override async Task Fetch(FetchRequest request, IServerStreamWriter<FetchFrame> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var store = Store(request.Store);
        int frameBytes = request.MaxFrameBytes == 0 ? FrameBytes : (int)Math.Clamp(request.MaxFrameBytes, 4096, FrameBytes);
        for (int i = 0; i < request.Keys.Count; i++)
        {
            using var reader = await store.OpenReadAsync(request.Keys[i].Memory, ct);
            if (reader is null)
            {
                await responseStream.WriteAsync(new FetchFrame { Index = (uint)i, First = true, Code = (int)StatusCode.NotFound }, ct);
                continue;
            }
            var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1, reader.ChunkLength));
            try
            {
                bool first = true;
                for (int c = 0; c < Math.Max(1, reader.ChunkCount); c++)
                {
                    int n;
                    try { n = reader.Length == 0 ? 0 : await reader.ReadChunkAsync(c, buffer, ct); }
                    catch (ChunkMissingException)
                    {
                        await responseStream.WriteAsync(new FetchFrame { Index = (uint)i, First = first, Code = (int)StatusCode.NotFound }, ct);
                        goto next;
                    }
                    int offset = 0;
                    do
                    {
                        int length = Math.Min(frameBytes, n - offset);
                        var frame = new FetchFrame { Index = (uint)i, Data = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(offset, length)) };
                        if (first) { frame.First = true; frame.TotalLength = (ulong)reader.Length; first = false; }
                        await responseStream.WriteAsync(frame, ct);
                        offset += length;
                    } while (offset < n);
                }
                counters.Served(reader.Length);
            next:;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    public override async Task<HasResponse> Has(PeerKeysRequest request, ServerCallContext context)
    {
        var store = Store(request.Store);
        var response = new HasResponse();
        foreach (var key in request.Keys)
            response.Held.Add(await store.ExistsAsync(key.Memory, context.CancellationToken) != Tier.None);
        return response;
    }

    public override async Task<RemoveResponse> Remove(PeerKeysRequest request, ServerCallContext context)
    {
        var store = Store(request.Store);
        var response = new RemoveResponse();
        foreach (var key in request.Keys)
            response.Removed.Add(await store.DeleteAsync(key.Memory, context.CancellationToken));
        return response;
    }
}
