using System.Diagnostics;
using CheckpointCache.Client.DataSocket;
using CheckpointCache.Client.SharedMemory;
using CheckpointCache.Engine;
using CheckpointCache.Node.Lifecycle;
using CheckpointCache.Node.Metrics;
using CheckpointCache.Node.Options;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace CheckpointCache.Node.DataSocket;

/// <summary>
/// The shared-buffer calls of the data socket (docs/api.md, "Shared buffers"): a client registers memfds it mapped,
/// then BatchGet writes values straight into them and BatchPut reads values straight out of them, so a value is
/// copied once, between the store and the client's memory, and never crosses the socket. Same limits, statuses
/// and metrics as the socket's BatchGet and BatchPut.
/// </summary>
public sealed class DataSocketSharedCalls(
    IOptions<LimitsOptions> limitsOptions,
    NodeMetrics metrics,
    PutAdmission admission,
    NodeLifecycle lifecycle,
    NodeIdentity identity,
    ILogger<DataSocketSharedCalls> logger)
{
    /// <summary>How long the node waits for the descriptor after its go-ahead.</summary>
    private const int DescriptorWaitMs = 10_000;

    private readonly LimitsOptions _limits = limitsOptions.Value;

    /// <summary>Registers one buffer: size, go-ahead, then the byte carrying the memfd; answers the buffer's id.</summary>
    internal async Task RegisterAsync(WireConnection wire, SharedRegions regions, CancellationToken ct)
    {
        ulong bytes = await wire.ReadUInt64Async(ct);
        regions.CheckRoom(bytes);
        if (wire.Buffered != 0)
            throw new DataCallException(StatusCode.InvalidArgument, "a registration sends its descriptor only after the node's go-ahead; bytes came before it");
        wire.WriteUInt32(DataWire.ResponseMagic);
        wire.WriteInt32(0);
        wire.WriteString("");
        await wire.FlushAsync(ct);
        int descriptor;
        using (var wait = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            // Wait without holding a thread: peeking leaves the byte, and the descriptor attached to it, in the socket.
            wait.CancelAfter(DescriptorWaitMs);
            try
            {
                if (await wire.Socket.ReceiveAsync(new byte[1], System.Net.Sockets.SocketFlags.Peek, wait.Token) == 0)
                    throw new EndOfStreamException("the data socket closed before the descriptor arrived");
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new DataCallException(StatusCode.DeadlineExceeded, $"no descriptor arrived within {DescriptorWaitMs} ms of the go-ahead");
            }
        }
        descriptor = LinuxMemory.ReceiveDescriptor((int)wire.Socket.Handle, DescriptorWaitMs, ct);
        if (descriptor < 0) throw new DataCallException(StatusCode.InvalidArgument, "the registration's byte carried no descriptor (SCM_RIGHTS)");
        SharedRegion region;
        try
        {
            region = SharedRegion.Map(descriptor, (long)bytes, _limits.AllowHugePageSharedBuffers);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            // A refusal with its reason, not a dropped connection: the client then moves the values through the socket.
            const int OutOfMemory = 12;
            throw new DataCallException(e.NativeErrorCode == OutOfMemory ? StatusCode.ResourceExhausted : StatusCode.Internal,
                $"the node could not map the {bytes}-byte shared buffer: {e.Message}");
        }
        uint id = regions.Add(region);
        logger.LogDebug("Shared buffer {Id} of {Bytes} bytes mapped for a data-socket connection", id, bytes);
        wire.WriteUInt32(DataWire.ResponseMagic);
        wire.WriteInt32(0);
        wire.WriteString("");
        wire.WriteUInt32(id);
    }

    internal async Task GetAsync(WireConnection wire, SharedRegions regions, ResolvedNamespace ns, int count, CancellationToken ct)
    {
        var keys = new byte[count][];
        var places = new (uint Region, ulong Offset, ulong Room)[count];
        for (int i = 0; i < count; i++)
        {
            keys[i] = await wire.ReadShortBytesAsync(ct);
            places[i] = (await wire.ReadUInt32Async(ct), await wire.ReadUInt64Async(ct), await wire.ReadUInt64Async(ct));
        }
        wire.WriteUInt32(DataWire.ResponseMagic);
        wire.WriteInt32(0);
        wire.WriteString("");
        wire.WriteUInt32((uint)count);
        long sent = 0;
        for (int i = 0; i < count; i++)
        {
            await wire.EnsureRoomAsync(WireConnection.ItemFramingBytes, ct);
            var (region, offset, room) = places[i];
            var (destination, misplaced) = regions.Slice(region, offset, room, i);
            if ((KeyCheck.Problem(keys[i].Length, i, _limits) ?? misplaced) is { } problem)
            {
                metrics.ItemError(ns.Declared.Store, "get", StatusCode.InvalidArgument);
                Item(wire, StatusCode.InvalidArgument, Rpc.Kv.V1.Tier.None, problem, 0);
                continue;
            }
            var started = Stopwatch.GetTimestamp();
            // Straight from the store's records into the client's memory: one copy, verified as it is made (a failed
            // check is a miss, and the place's bytes are then not the value).
            var read = await ns.Store.ReadIntoAsync(ns.EngineKey(keys[i]), destination, ct);
            switch (read.Outcome)
            {
                case ReadIntoOutcome.Miss:
                    metrics.Miss(ns.Declared);
                    Item(wire, StatusCode.NotFound, Rpc.Kv.V1.Tier.None, $"key {i} is not cached", 0);
                    continue;
                case ReadIntoOutcome.TooSmall:
                    metrics.ItemError(ns.Declared.Store, "get", StatusCode.OutOfRange);
                    Item(wire, StatusCode.OutOfRange, Rpc.Kv.V1.Tier.None, $"key {i}: its value is {read.Length} bytes, its destination holds {destination.Length}", 0);
                    continue;
            }
            if (read.Length > _limits.MaxBatchBytes.Bytes - sent)
            {
                metrics.ItemError(ns.Declared.Store, "get", StatusCode.ResourceExhausted);
                Item(wire, StatusCode.ResourceExhausted, Rpc.Kv.V1.Tier.None,
                    $"key {i}: its {read.Length} bytes would bring the call over Limits:MaxBatchBytes ({_limits.MaxBatchBytes}); ask for it in another call", 0);
                continue;
            }
            sent += read.Length;
            metrics.Hit(ns.Declared, read.Tier, read.Length, Stopwatch.GetElapsedTime(started));
            Item(wire, StatusCode.OK, KvCacheService.ToProto(read.Tier), "", (ulong)read.Length);
        }
    }

    private static void Item(WireConnection wire, StatusCode code, Rpc.Kv.V1.Tier tier, string message, ulong length)
    {
        wire.WriteInt32((int)code);
        wire.WriteByte((byte)tier);
        wire.WriteString(message);
        wire.WriteUInt64(length);
    }

    internal async Task PutAsync(WireConnection wire, SharedRegions regions, ResolvedNamespace ns, int count, CancellationToken ct)
    {
        var items = new (byte[] Key, uint Region, ulong Offset, ulong Length)[count];
        for (int i = 0; i < count; i++)
            items[i] = (await wire.ReadShortBytesAsync(ct), await wire.ReadUInt32Async(ct), await wire.ReadUInt64Async(ct), await wire.ReadUInt64Async(ct));
        if (!lifecycle.TryBeginWrite())
            throw new DataCallException(StatusCode.Unavailable,
                $"node '{identity.NodeId}' is draining (drain requested or SIGTERM): new writes are refused, reads are still served; retry on another node or after the restart");
        var results = new (int Code, string Message)[count];
        try
        {
            long batchBytes = 0;
            for (int i = 0; i < count; i++)
            {
                var (key, region, offset, length) = items[i];
                if (length > (ulong)_limits.MaxBatchBytes.Bytes - (ulong)batchBytes)
                    throw new DataCallException(StatusCode.ResourceExhausted, $"item {i} brings the call to more than Limits:MaxBatchBytes ({_limits.MaxBatchBytes})");
                batchBytes += (long)length;
                var (source, misplaced) = regions.Slice(region, offset, length, i);
                if (misplaced is not null)
                {
                    metrics.ItemError(ns.Declared.Store, "put", StatusCode.InvalidArgument);
                    results[i] = ((int)StatusCode.InvalidArgument, misplaced);
                    continue;
                }
                var item = admission.Start(ns, i, key, length);
                try
                {
                    await admission.WriteAsync(item, source, ct);
                    await admission.FinishAsync(item, ns, ct);
                    results[i] = ((int)item.Code, item.Message);
                }
                catch
                {
                    // A cut connection or a stopping node: the open item is abandoned, never published.
                    await item.DisposeAsync();
                    throw;
                }
            }
        }
        finally
        {
            lifecycle.EndWrite();
        }
        await DataSocketCalls.WritePutResultsAsync(wire, results, ct);
    }
}
