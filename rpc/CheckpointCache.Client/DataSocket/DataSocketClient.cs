using System.Collections.Concurrent;
using System.Net.Sockets;
using CheckpointCache.Client.SharedMemory;
using CheckpointCache.Rpc.Kv.V1;
using Google.Protobuf;
using Grpc.Core;

namespace CheckpointCache.Client.DataSocket;

/// <summary>
/// BatchGet and BatchPut over the node's data socket (docs/api.md, "Data socket"). Keeps idle connections for
/// reuse, one call per connection at a time. A whole-call refusal is thrown as an <see cref="RpcException"/> with
/// the node's status and message, as over gRPC; a deadline or cancellation closes the connection (the node then
/// abandons a half-sent put) and throws DEADLINE_EXCEEDED or CANCELLED. A broken socket throws
/// <see cref="DataSocketUnavailableException"/>, after which the caller may retry the call over gRPC.
/// </summary>
internal sealed class DataSocketClient(string path, int maxIdleConnections) : IDisposable
{
    private readonly ConcurrentBag<WireConnection> _idle = [];

    public string Path => path;

    /// <summary>
    /// Reads every key's value into the memory <paramref name="destination"/> gives for (index, length), or drops it
    /// when that is null (the caller records why). Returns the code, message, tier and length per key.
    /// </summary>
    public async Task<IReadOnlyList<FillResult>> GetAsync(NamespaceRef ns, IReadOnlyList<ReadOnlyMemory<byte>> keys,
        Func<int, long, Memory<byte>?> destination, TimeSpan timeout, CancellationToken cancellationToken)
        => await CallAsync(timeout, cancellationToken, async (wire, ct) =>
        {
            await WriteHeaderAsync(wire, DataWire.OpGet, ns, keys.Count, ct);
            foreach (var key in keys)
            {
                await wire.EnsureRoomAsync(2 + key.Length, ct);
                wire.WriteShortBytes(key.Span);
            }
            await wire.FlushAsync(ct);
            int count = await ReadResponseHeaderAsync(wire, keys.Count, ct);
            var results = new FillResult[count];
            for (int i = 0; i < count; i++) results[i] = await ReadValueAsync(wire, i, destination, ct);
            return (IReadOnlyList<FillResult>)results;
        });

    public async Task<IReadOnlyList<KeyResult>> PutAsync(NamespaceRef ns, IReadOnlyList<KvItem> items, TimeSpan timeout, CancellationToken cancellationToken)
        => await CallAsync(timeout, cancellationToken, async (wire, ct) =>
        {
            await WriteHeaderAsync(wire, DataWire.OpPut, ns, items.Count, ct);
            // The node reads while this writes; a refusal of the whole call arrives instead of the results.
            var sending = Task.Run(async () =>
            {
                foreach (var item in items)
                {
                    await wire.EnsureRoomAsync(10 + item.Key.Length, ct);
                    wire.WriteShortBytes(item.Key.Span);
                    wire.WriteUInt64((ulong)item.Value.Length);
                    await wire.WriteAsync(item.Value, ct);
                }
                await wire.FlushAsync(ct);
            }, ct);
            int count;
            try
            {
                count = await ReadResponseHeaderAsync(wire, items.Count, ct);
            }
            catch (RpcException)
            {
                // The node stopped reading and closed: what was left unsent fails to send, which does not matter.
                try { await sending; } catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException) { }
                throw;
            }
            await sending;
            return await ReadPutResultsAsync(wire, count, ct);
        });

    /// <summary>
    /// BatchGet into shared buffers: value i goes to <paramref name="places"/>[i] (a slice of a <see cref="SharedBuffer"/>),
    /// written there by the node; no value byte crosses the socket. A value longer than its place is OUT_OF_RANGE.
    /// </summary>
    /// <param name="callerThread">
    /// A blocked caller's thread (CacheClient.BatchGetInto): while the call still runs on it (nothing before the
    /// request had to wait), that thread waits for the answer in poll() instead of an async read.
    /// </param>
    public async Task<IReadOnlyList<FillResult>> GetSharedAsync(NamespaceRef ns, IReadOnlyList<ReadOnlyMemory<byte>> keys,
        IReadOnlyList<(SharedBuffer Buffer, int Offset, int Length)> places, TimeSpan timeout, int? callerThread, CancellationToken cancellationToken)
        => await CallAsync(timeout, cancellationToken, async (wire, ct) =>
        {
            await WritePlacesAsync(wire, DataWire.OpGetShared, ns, keys, places, ct);
            if (callerThread == Environment.CurrentManagedThreadId) WaitForAnswer(wire, ct);
            int count = await ReadResponseHeaderAsync(wire, keys.Count, ct);
            var results = new FillResult[count];
            for (int i = 0; i < count; i++)
            {
                var code = (StatusCode)await wire.ReadUInt32Async(ct);
                var tier = (Tier)await wire.ReadByteAsync(ct);
                var message = await wire.ReadStringAsync(ct);
                ulong length = await wire.ReadUInt64Async(ct);
                if (code == StatusCode.OK && length > (ulong)places[i].Length) throw new IOException($"item {i}: the node reports {length} bytes written into a {places[i].Length}-byte place");
                results[i] = code == StatusCode.OK ? new FillResult(i, code, "", tier, (long)length) : new FillResult(i, code, message, Tier.None, 0);
            }
            return (IReadOnlyList<FillResult>)results;
        });

    /// <summary>
    /// Sleeps in poll() on the calling thread until the answer's first bytes are there; the reads after it then
    /// find them (the node sends a shared-buffer answer in one write unless its item messages pass 64 KiB).
    /// Wakes every 100 ms to see the call's deadline or cancellation.
    /// </summary>
    private static void WaitForAnswer(WireConnection wire, CancellationToken ct)
    {
        int fd = (int)wire.Socket.Handle;
        try
        {
            while (wire.Buffered == 0 && !LinuxMemory.WaitReadable(fd, 100)) ct.ThrowIfCancellationRequested();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            // Seen by CallAsync as the data socket breaking: the call then goes over gRPC.
            throw new IOException(e.Message, e);
        }
    }

    /// <summary>BatchPut of values that lie in shared buffers: the node reads each from there; only keys and places cross the socket.</summary>
    public async Task<IReadOnlyList<KeyResult>> PutSharedAsync(NamespaceRef ns, IReadOnlyList<ReadOnlyMemory<byte>> keys,
        IReadOnlyList<(SharedBuffer Buffer, int Offset, int Length)> places, TimeSpan timeout, CancellationToken cancellationToken)
        => await CallAsync(timeout, cancellationToken, async (wire, ct) =>
        {
            await WritePlacesAsync(wire, DataWire.OpPutShared, ns, keys, places, ct);
            return await ReadPutResultsAsync(wire, await ReadResponseHeaderAsync(wire, keys.Count, ct), ct);
        });

    /// <summary>A shared-buffer call: per key, the key and its place (the buffer's id on this connection, offset, length).</summary>
    private static async Task WritePlacesAsync(WireConnection wire, byte op, NamespaceRef ns, IReadOnlyList<ReadOnlyMemory<byte>> keys,
        IReadOnlyList<(SharedBuffer Buffer, int Offset, int Length)> places, CancellationToken ct)
    {
        var ids = await RegisterAllAsync(wire, places, ct);
        await WriteHeaderAsync(wire, op, ns, keys.Count, ct);
        for (int i = 0; i < keys.Count; i++)
        {
            await wire.EnsureRoomAsync(22 + keys[i].Length, ct);
            wire.WriteShortBytes(keys[i].Span);
            wire.WriteUInt32(ids[i]);
            wire.WriteUInt64((ulong)places[i].Offset);
            wire.WriteUInt64((ulong)places[i].Length);
        }
        await wire.FlushAsync(ct);
    }

    /// <summary>A BatchPut's per-item results (ops 2 and 7): code, replicas, message.</summary>
    private static async Task<IReadOnlyList<KeyResult>> ReadPutResultsAsync(WireConnection wire, int count, CancellationToken ct)
    {
        var results = new KeyResult[count];
        for (int i = 0; i < count; i++)
        {
            var code = (StatusCode)await wire.ReadUInt32Async(ct);
            int replicas = (int)await wire.ReadUInt32Async(ct);
            results[i] = new KeyResult(i, code, await wire.ReadStringAsync(ct), replicas);
        }
        return results;
    }

    /// <summary>The node's id of each place's buffer on this connection, registering those it does not know yet.</summary>
    internal static async Task<uint[]> RegisterAllAsync(WireConnection wire, IReadOnlyList<(SharedBuffer Buffer, int Offset, int Length)> places, CancellationToken ct)
    {
        wire.Registered ??= [];
        var ids = new uint[places.Count];
        for (int i = 0; i < places.Count; i++)
        {
            var buffer = places[i].Buffer;
            if (!wire.Registered.TryGetValue(buffer, out uint id))
            {
                id = await RegisterAsync(wire, buffer, ct);
                wire.Registered[buffer] = id;
            }
            ids[i] = id;
        }
        return ids;
    }

    /// <summary>Registration (docs/api.md, "Shared buffers"): the size, the node's go-ahead, one byte carrying the memfd, the id.</summary>
    private static async Task<uint> RegisterAsync(WireConnection wire, SharedBuffer buffer, CancellationToken ct)
    {
        await wire.EnsureRoomAsync(DataWire.RequestHeaderBytes + 8, ct);
        await wire.WriteRequestHeaderAsync(DataWire.OpRegisterBuffer, [], 0, ct);
        wire.WriteUInt64((ulong)buffer.Length);
        await wire.FlushAsync(ct);
        try
        {
            await ReadStatusAsync(wire, ct);
            // Nothing else is in flight on this connection, so the socket has room and the send does not wait.
            LinuxMemory.SendDescriptor((int)wire.Socket.Handle, buffer.Descriptor, 10_000);
            await ReadStatusAsync(wire, ct);
        }
        catch (RpcException e)
        {
            throw new SharedBufferRefusedException(e);
        }
        return await wire.ReadUInt32Async(ct);
    }

    private static async Task ReadStatusAsync(WireConnection wire, CancellationToken ct)
    {
        if (await wire.ReadUInt32Async(ct) != DataWire.ResponseMagic) throw new IOException("the data socket answered with something that is not a CKR1 response");
        var code = (StatusCode)await wire.ReadUInt32Async(ct);
        var message = await wire.ReadStringAsync(ct);
        if (code != StatusCode.OK) throw new RpcException(new Status(code, message));
    }

    /// <summary>An idle connection, or a new one; give it back with <see cref="Return"/>.</summary>
    internal async Task<WireConnection> RentAsync(CancellationToken ct)
    {
        while (_idle.TryTake(out var idle))
        {
            if (!HoldsDisposedBuffer(idle)) return idle;
            idle.Dispose();
        }
        return await WireConnection.ConnectAsync(path, ct);
    }

    /// <summary>Keeps a connection that finished its call cleanly for the next one; closes any other.</summary>
    internal void Return(WireConnection wire, bool reusable)
    {
        // Closing a connection is what makes the node unmap the buffers it registered.
        if (reusable && _idle.Count < maxIdleConnections && !HoldsDisposedBuffer(wire)) _idle.Add(wire);
        else wire.Dispose();
    }

    private static bool HoldsDisposedBuffer(WireConnection wire)
    {
        if (wire.Registered is not { Count: > 0 } registered) return false;
        foreach (var buffer in registered.Keys)
            if (buffer.IsDisposed) return true;
        return false;
    }

    private async Task<T> CallAsync<T>(TimeSpan timeout, CancellationToken cancellationToken, Func<WireConnection, CancellationToken, Task<T>> call)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        WireConnection? wire = null;
        bool reusable = false;
        try
        {
            wire = await RentAsync(cts.Token);
            var result = await call(wire, cts.Token);
            reusable = true;
            return result;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.DeadlineExceeded, $"the call did not finish within {timeout} (data socket)"));
        }
        catch (OperationCanceledException)
        {
            throw new RpcException(new Status(StatusCode.Cancelled, "the call was cancelled (data socket)"));
        }
        catch (Exception e) when (e is SocketException or EndOfStreamException or IOException or ObjectDisposedException)
        {
            // The node went away (or restarted): the idle connections point at the same dead socket.
            DropIdle();
            throw new DataSocketUnavailableException($"data socket {path}: {e.Message}", e);
        }
        finally
        {
            if (wire is not null) Return(wire, reusable);
        }
    }

    /// <summary>Closes every idle connection.</summary>
    internal void DropIdle()
    {
        while (_idle.TryTake(out var idle)) idle.Dispose();
    }

    /// <summary>Reads a files call's status, message and files-error name; throws a refusal as gRPC would raise it.</summary>
    internal static async Task ReadFilesStatusAsync(WireConnection wire, bool magic, CancellationToken ct)
    {
        if (magic && await wire.ReadUInt32Async(ct) != DataWire.ResponseMagic) throw new IOException("the data socket answered with something that is not a CKR1 response");
        var code = (StatusCode)await wire.ReadUInt32Async(ct);
        var message = await wire.ReadStringAsync(ct);
        var error = await wire.ReadStringAsync(ct);
        if (code == StatusCode.OK) return;
        var trailers = new Metadata();
        if (error.Length > 0) trailers.Add("files-error", error);
        throw new RpcException(new Status(code, message), trailers);
    }

    /// <summary>Files Read of <paramref name="destination"/>.Length bytes at <paramref name="offset"/>; returns the bytes read (fewer at the end of the file).</summary>
    public async Task<int> ReadFileAsync(ulong sessionId, long offset, Memory<byte> destination, TimeSpan timeout, CancellationToken cancellationToken)
        => await CallAsync(timeout, cancellationToken, async (wire, ct) =>
        {
            await wire.EnsureRoomAsync(DataWire.RequestHeaderBytes + 24, ct);
            await wire.WriteRequestHeaderAsync(DataWire.OpFileRead, [], 0, ct);
            wire.WriteUInt64(sessionId);
            wire.WriteUInt64((ulong)offset);
            wire.WriteUInt64((ulong)destination.Length);
            await wire.FlushAsync(ct);
            await ReadFilesStatusAsync(wire, magic: true, ct);
            int total = 0;
            while (true)
            {
                uint segment = await wire.ReadUInt32Async(ct);
                if (segment == DataWire.SegmentEnd) return total;
                if (segment == DataWire.SegmentAbort)
                {
                    await ReadFilesStatusAsync(wire, magic: false, ct);
                    throw new IOException("the node aborted a read without a status");
                }
                if (segment > (uint)(destination.Length - total)) throw new IOException($"a read segment of {segment} bytes overruns the {destination.Length} asked for");
                await wire.ReadExactAsync(destination.Slice(total, (int)segment), ct);
                total += (int)segment;
            }
        });

    /// <summary>
    /// Files Read of <paramref name="length"/> bytes at <paramref name="offset"/> into a shared buffer, written there by
    /// the node; returns the bytes read (fewer at the end of the file). Throws <see cref="SharedBufferRefusedException"/>
    /// when the node will not map the buffer.
    /// </summary>
    public async Task<int> ReadFileSharedAsync(ulong sessionId, long offset, (SharedBuffer Buffer, int Offset, int Length) place, TimeSpan timeout, CancellationToken cancellationToken)
        => await CallAsync(timeout, cancellationToken, async (wire, ct) =>
        {
            var ids = await RegisterAllAsync(wire, [place], ct);
            await wire.EnsureRoomAsync(DataWire.RequestHeaderBytes + 36, ct);
            await wire.WriteRequestHeaderAsync(DataWire.OpFileReadShared, [], 0, ct);
            wire.WriteUInt64(sessionId);
            wire.WriteUInt64((ulong)offset);
            wire.WriteUInt64((ulong)place.Length);
            wire.WriteUInt32(ids[0]);
            wire.WriteUInt64((ulong)place.Offset);
            await wire.FlushAsync(ct);
            await ReadFilesStatusAsync(wire, magic: true, ct);
            ulong read = await wire.ReadUInt64Async(ct);
            if (read > (ulong)place.Length) throw new IOException($"the node reports {read} bytes read into a {place.Length}-byte place");
            return (int)read;
        });

    private static async Task WriteHeaderAsync(WireConnection wire, byte op, NamespaceRef ns, int count, CancellationToken ct)
    {
        var nsBytes = ns.ToByteArray();
        await wire.EnsureRoomAsync(DataWire.RequestHeaderBytes + nsBytes.Length, ct);
        await wire.WriteRequestHeaderAsync(op, nsBytes, count, ct);
    }

    /// <summary>Reads the call status; throws the node's refusal as an RpcException. Returns the item count.</summary>
    private static async Task<int> ReadResponseHeaderAsync(WireConnection wire, int expected, CancellationToken ct)
    {
        if (await wire.ReadUInt32Async(ct) != DataWire.ResponseMagic) throw new IOException("the data socket answered with something that is not a CKR1 response");
        var code = (StatusCode)await wire.ReadUInt32Async(ct);
        var message = await wire.ReadStringAsync(ct);
        if (code != StatusCode.OK) throw new RpcException(new Status(code, message));
        int count = (int)await wire.ReadUInt32Async(ct);
        if (count != expected) throw new IOException($"the data socket answered {count} items for {expected}");
        return count;
    }

    private static async Task<FillResult> ReadValueAsync(WireConnection wire, int index, Func<int, long, Memory<byte>?> destination, CancellationToken ct)
    {
        var code = (StatusCode)await wire.ReadUInt32Async(ct);
        var tier = (Tier)await wire.ReadByteAsync(ct);
        var message = await wire.ReadStringAsync(ct);
        ulong length = await wire.ReadUInt64Async(ct);
        if (code != StatusCode.OK) return new FillResult(index, code, message, Tier.None, 0);
        var target = destination(index, (long)length);
        long filled = 0;
        while (true)
        {
            uint segment = await wire.ReadUInt32Async(ct);
            if (segment == DataWire.SegmentEnd) break;
            if (segment == DataWire.SegmentAbort)
            {
                // The node lost the value while sending it: what arrived is not a value.
                var abortCode = (StatusCode)await wire.ReadUInt32Async(ct);
                return new FillResult(index, abortCode, await wire.ReadStringAsync(ct), Tier.None, 0);
            }
            if (segment > (ulong)((long)length - filled)) throw new IOException($"item {index}: a segment of {segment} bytes overruns its {length}-byte value");
            if (target is { } t) await wire.ReadExactAsync(t.Slice((int)filled, (int)segment), ct);
            else await wire.SkipAsync(segment, ct);
            filled += segment;
        }
        if (filled != (long)length) throw new IOException($"item {index}: {filled} of {length} bytes arrived before its end marker");
        return new FillResult(index, StatusCode.OK, "", tier, (long)length);
    }

    public void Dispose() => DropIdle();
}
