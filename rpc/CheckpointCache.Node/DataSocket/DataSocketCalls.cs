using System.Buffers;
using System.Diagnostics;
using CheckpointCache.Client.DataSocket;
using CheckpointCache.Cluster;
using CheckpointCache.Engine;
using CheckpointCache.Node.Lifecycle;
using CheckpointCache.Node.Metrics;
using CheckpointCache.Node.Options;
using CheckpointCache.Rpc.Kv.V1;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CheckpointCache.Node.DataSocket;

/// <summary>
/// BatchGet and BatchPut on the data socket, with the gRPC calls' semantics: the same namespace resolution,
/// limits, statuses, drain refusal and metrics (see <see cref="KvCacheService"/>). Stores placed across the
/// cluster are refused with FAILED_PRECONDITION: their reads and writes involve peers, which gRPC serves.
/// </summary>
public sealed class DataSocketCalls(
    NamespaceResolver resolver,
    IOptions<LimitsOptions> limitsOptions,
    NodeMetrics metrics,
    ClusterNode cluster,
    PutAdmission admission,
    DataSocketFileCalls files,
    DataSocketSharedCalls shared,
    DataSocketSharedFileCalls sharedFiles,
    NodeLifecycle lifecycle,
    NodeIdentity identity,
    ILogger<DataSocketCalls> logger)
{
    /// <summary>Bytes of a put value taken from the socket at a time.</summary>
    private const int PutPieceBytes = 1024 * 1024;

    private readonly LimitsOptions _limits = limitsOptions.Value;

    /// <summary>Serves one call; false when the connection must close (a whole-call failure: the rest of its frames cannot be trusted).</summary>
    internal async Task<bool> ServeAsync(WireConnection wire, SharedRegions regions, CancellationToken ct)
    {
        byte op = 0;
        var started = Stopwatch.GetTimestamp();
        var code = StatusCode.Unknown;
        try
        {
            code = await ServeCoreAsync(wire, regions, ct, o => op = o);
            return code == StatusCode.OK;
        }
        finally
        {
            // Counted with the gRPC calls of the same name: dashboards see one BatchGet/BatchPut rate whatever the transport.
            if (MethodOf(op) is { } method) metrics.Call(method, code, Stopwatch.GetElapsedTime(started));
        }
    }

    private static string? MethodOf(byte op) => op switch
    {
        DataWire.OpGet or DataWire.OpGetShared => "BatchGet",
        DataWire.OpPut or DataWire.OpPutShared => "BatchPut",
        DataWire.OpRegisterBuffer => "RegisterBuffer",
        DataWire.OpFileWrite or DataWire.OpFileWriteShared => "Write",
        DataWire.OpFileRead or DataWire.OpFileReadShared => "Read",
        _ => null,
    };

    private async Task<StatusCode> ServeCoreAsync(WireConnection wire, SharedRegions regions, CancellationToken ct, Action<byte> opSeen)
    {
        byte op = 0;
        try
        {
            if (await wire.ReadUInt32Async(ct) != DataWire.RequestMagic)
                throw new DataCallException(StatusCode.InvalidArgument, "not a data-socket request: it must start with the magic CKD1 (docs/api.md, Data socket)");
            op = await wire.ReadByteAsync(ct);
            opSeen(op);
            byte flags = await wire.ReadByteAsync(ct);
            ushort reserved = await wire.ReadUInt16Async(ct);
            uint nsLength = await wire.ReadUInt32Async(ct);
            uint count = await wire.ReadUInt32Async(ct);
            if (flags != 0 || reserved != 0) throw new DataCallException(StatusCode.InvalidArgument, "request flags and reserved bytes must be 0");
            if (MethodOf(op) is null) throw new DataCallException(StatusCode.Unimplemented, $"operation {op} is not served; 1 is BatchGet, 2 is BatchPut, 3 is Files Write, 4 is Files Read, 5 registers a shared buffer, 6 and 7 are BatchGet and BatchPut through shared buffers, 8 and 9 are Files Write and Read through shared buffers");
            if (op is DataWire.OpFileWrite or DataWire.OpFileRead or DataWire.OpFileWriteShared or DataWire.OpFileReadShared)
            {
                if (nsLength != 0 || count != 0) throw new DataCallException(StatusCode.InvalidArgument, "a files call carries no namespace and no count (both 0)");
                var status = op switch
                {
                    DataWire.OpFileWrite => await files.WriteAsync(wire, ct),
                    DataWire.OpFileRead => await files.ReadAsync(wire, ct),
                    DataWire.OpFileWriteShared => await sharedFiles.WriteAsync(wire, regions, ct),
                    _ => await sharedFiles.ReadAsync(wire, regions, ct),
                };
                await wire.FlushAsync(ct);
                return status;
            }
            if (op == DataWire.OpRegisterBuffer)
            {
                if (nsLength != 0 || count != 0) throw new DataCallException(StatusCode.InvalidArgument, "a registration carries no namespace and no count (both 0)");
                await shared.RegisterAsync(wire, regions, ct);
                await wire.FlushAsync(ct);
                return StatusCode.OK;
            }
            if (nsLength > DataWire.MaxNamespaceBytes) throw new DataCallException(StatusCode.InvalidArgument, $"namespace is {nsLength} bytes, over {DataWire.MaxNamespaceBytes}");
            if (count > _limits.MaxBatchKeys)
                throw new DataCallException(StatusCode.ResourceExhausted, $"{count} keys in one call, over Limits:MaxBatchKeys ({_limits.MaxBatchKeys})");
            var nsBytes = new byte[nsLength];
            await wire.ReadExactAsync(nsBytes, ct);
            var ns = Resolve(nsBytes);
            switch (op)
            {
                case DataWire.OpGet: await GetAsync(wire, ns, (int)count, ct); break;
                case DataWire.OpPut: await PutAsync(wire, ns, (int)count, ct); break;
                case DataWire.OpGetShared: await shared.GetAsync(wire, regions, ns, (int)count, ct); break;
                default: await shared.PutAsync(wire, regions, ns, (int)count, ct); break;
            }
            await wire.FlushAsync(ct);
            return StatusCode.OK;
        }
        catch (DataCallException e)
        {
            return await FailCallAsync(wire, e.Code, e.Message, ct);
        }
        catch (RpcException e)
        {
            return await FailCallAsync(wire, e.StatusCode, e.Status.Detail, ct);
        }
        catch (CacheException e)
        {
            // Shutting down is UNAVAILABLE, as over gRPC: the client retries on this node after its restart, or elsewhere.
            return await FailCallAsync(wire, RpcErrors.CodeOf(e), e.Message, ct);
        }
    }

    private ResolvedNamespace Resolve(byte[] nsBytes)
    {
        NamespaceRef reference;
        try
        {
            reference = NamespaceRef.Parser.ParseFrom(nsBytes);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new DataCallException(StatusCode.InvalidArgument, "namespace is not an encoded NamespaceRef: " + e.Message);
        }
        var ns = resolver.Resolve(reference);
        if (cluster.IsHashed(ns.Store.Name))
            throw new DataCallException(StatusCode.FailedPrecondition,
                $"store '{ns.Store.Name}' is placed across the cluster; its values go through gRPC (KvCache.BatchGet/BatchPut), which reaches the owners");
        return ns;
    }

    private static async Task<StatusCode> FailCallAsync(WireConnection wire, StatusCode code, string message, CancellationToken ct)
    {
        try
        {
            await wire.EnsureRoomAsync(WireConnection.ItemFramingBytes, ct);
            wire.WriteUInt32(DataWire.ResponseMagic);
            wire.WriteInt32((int)code);
            wire.WriteString(message);
            await wire.FlushAsync(ct);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            // The client is gone; nothing to tell it.
        }
        return code;
    }

    private async Task GetAsync(WireConnection wire, ResolvedNamespace ns, int count, CancellationToken ct)
    {
        var keys = new byte[count][];
        for (int i = 0; i < count; i++) keys[i] = await wire.ReadShortBytesAsync(ct);
        wire.WriteUInt32(DataWire.ResponseMagic);
        wire.WriteInt32(0);
        wire.WriteString("");
        wire.WriteUInt32((uint)count);
        long sent = 0;
        using var chunks = new ChunkBuffer();
        for (int i = 0; i < count; i++)
        {
            await wire.EnsureRoomAsync(WireConnection.ItemFramingBytes, ct);
            if (KeyCheck.Problem(keys[i].Length, i, _limits) is { } problem)
            {
                metrics.ItemError(ns.Declared.Store, "get", StatusCode.InvalidArgument);
                ItemFailed(wire, StatusCode.InvalidArgument, problem);
                continue;
            }
            var started = Stopwatch.GetTimestamp();
            using var reader = await ns.Store.OpenReadAsync(ns.EngineKey(keys[i]), ct);
            if (reader is null)
            {
                metrics.Miss(ns.Declared);
                ItemFailed(wire, StatusCode.NotFound, $"key {i} is not cached");
                continue;
            }
            if (reader.Length > _limits.MaxBatchBytes.Bytes - sent)
            {
                metrics.ItemError(ns.Declared.Store, "get", StatusCode.ResourceExhausted);
                ItemFailed(wire, StatusCode.ResourceExhausted,
                    $"key {i}: its {reader.Length} bytes would bring the call over Limits:MaxBatchBytes ({_limits.MaxBatchBytes}); ask for it in another call");
                continue;
            }
            bool served = await SendValueAsync(wire, i, reader, chunks.Fit(reader.ChunkLength), ct);
            if (served) sent += reader.Length;
            metrics.Served(ns.Declared, served, reader, started);
        }
    }

    private static void ItemFailed(WireConnection wire, StatusCode code, string message)
    {
        wire.WriteInt32((int)code);
        wire.WriteByte((byte)Rpc.Kv.V1.Tier.None);
        wire.WriteString(message);
        wire.WriteUInt64(0);
    }

    /// <summary>
    /// Sends one value as segments, one per chunk. Chunk 0 is read before the item's header goes out, so a value
    /// already gone is a plain miss; a chunk that vanishes later ends the segments with an abort. False on a miss.
    /// </summary>
    private async ValueTask<bool> SendValueAsync(WireConnection wire, int index, IObjectReader reader, byte[] buffer, CancellationToken ct)
    {
        bool headerSent = false;
        for (int c = 0; c < Math.Max(1, reader.ChunkCount); c++)
        {
            var (n, lost) = await ChunkBuffer.ReadAsync(reader, c, buffer, index, logger, ct);
            if (lost is not null)
            {
                if (!headerSent)
                {
                    ItemFailed(wire, StatusCode.NotFound, lost);
                    return false;
                }
                await wire.EnsureRoomAsync(WireConnection.ItemFramingBytes, ct);
                wire.WriteUInt32(DataWire.SegmentAbort);
                wire.WriteInt32((int)StatusCode.NotFound);
                wire.WriteString(lost);
                return false;
            }
            if (!headerSent)
            {
                wire.WriteInt32(0);
                wire.WriteByte((byte)KvCacheService.ToProto(reader.Tier));
                wire.WriteString("");
                wire.WriteUInt64((ulong)reader.Length);
                headerSent = true;
            }
            if (n == 0) continue;
            await wire.EnsureRoomAsync(8, ct);
            wire.WriteUInt32((uint)n);
            await wire.WriteAsync(buffer.AsMemory(0, n), ct);
        }
        await wire.EnsureRoomAsync(8, ct);
        wire.WriteUInt32(DataWire.SegmentEnd);
        return true;
    }

    private async Task PutAsync(WireConnection wire, ResolvedNamespace ns, int count, CancellationToken ct)
    {
        if (!lifecycle.TryBeginWrite())
            throw new DataCallException(StatusCode.Unavailable,
                $"node '{identity.NodeId}' is draining (drain requested or SIGTERM): new writes are refused, reads are still served; retry on another node or after the restart");
        var results = new (int Code, string Message)[count];
        PutItem? item = null;
        var buffer = ArrayPool<byte>.Shared.Rent(PutPieceBytes);
        try
        {
            long batchBytes = 0;
            for (int i = 0; i < count; i++)
            {
                var key = await wire.ReadShortBytesAsync(ct);
                ulong length = await wire.ReadUInt64Async(ct);
                if (length > (ulong)_limits.MaxBatchBytes.Bytes - (ulong)batchBytes)
                    throw new DataCallException(StatusCode.ResourceExhausted, $"item {i} brings the call to more than Limits:MaxBatchBytes ({_limits.MaxBatchBytes})");
                batchBytes += (long)length;
                item = admission.Start(ns, i, key, length);
                for (ulong left = length; left > 0;)
                {
                    int n = (int)Math.Min(left, (ulong)buffer.Length);
                    await wire.ReadExactAsync(buffer.AsMemory(0, n), ct);
                    await admission.WriteAsync(item, buffer.AsMemory(0, n), ct);
                    left -= (ulong)n;
                }
                await admission.FinishAsync(item, ns, ct);
                results[i] = ((int)item.Code, item.Message);
                item = null;
            }
        }
        finally
        {
            // A cut connection or a refused call: the open item is abandoned, never published.
            if (item is not null) await item.DisposeAsync();
            ArrayPool<byte>.Shared.Return(buffer);
            lifecycle.EndWrite();
        }
        await WritePutResultsAsync(wire, results, ct);
    }

    /// <summary>A BatchPut's answer (ops 2 and 7): per item its code, replicas (1 when stored) and message.</summary>
    internal static async Task WritePutResultsAsync(WireConnection wire, (int Code, string Message)[] results, CancellationToken ct)
    {
        wire.WriteUInt32(DataWire.ResponseMagic);
        wire.WriteInt32(0);
        wire.WriteString("");
        wire.WriteUInt32((uint)results.Length);
        foreach (var (code, message) in results)
        {
            await wire.EnsureRoomAsync(WireConnection.ItemFramingBytes, ct);
            wire.WriteInt32(code);
            wire.WriteUInt32(code == 0 ? 1u : 0u);
            wire.WriteString(message);
        }
    }
}
