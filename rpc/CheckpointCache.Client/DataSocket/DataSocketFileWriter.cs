using CheckpointCache.Client.SharedMemory;
using CheckpointCache.Rpc.Files.V1;

namespace CheckpointCache.Client.DataSocket;

/// <summary>
/// One Files Write on the data socket: the session id, then (offset, length, bytes) records as the caller writes,
/// then an end record and the node's answer. The connection is held for the whole stream, so records go out
/// without a round trip each, as frames of a gRPC client stream do. Data lying in a <see cref="SharedBuffer"/> goes
/// as records naming its place (op 8), which the node reads from there; switching between the two kinds, or to a
/// buffer not registered yet, ends the node's call and starts another on the same connection.
/// </summary>
internal sealed class DataSocketFileWriter(DataSocketClient client, ulong sessionId) : IAsyncDisposable
{
    private WireConnection? _wire;
    private byte _op;
    private long _written;
    private bool _sharedRefused;
    private bool _clean;

    /// <summary>Whether a whole record (or the end) was handed to the socket: before that, the node has applied nothing.</summary>
    public bool Sent { get; private set; }

    public async Task WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (!_sharedRefused && !data.IsEmpty && SharedBuffer.TryLocate(data, out var buffer, out int at))
        {
            try
            {
                await WriteSharedAsync(offset, buffer, at, data.Length, ct);
                return;
            }
            catch (SharedBufferRefusedException)
            {
                // The node closed the connection with its refusal; the earlier calls on it had finished.
                _sharedRefused = true;
                client.Return(_wire!, reusable: false);
                _wire = null;
                _op = 0;
            }
        }
        var wire = await StartAsync(DataWire.OpFileWrite, ct);
        do
        {
            int n = Math.Min(DataWire.MaxRecordBytes, data.Length);
            await wire.EnsureRoomAsync(12, ct);
            wire.WriteUInt64((ulong)offset);
            wire.WriteUInt32((uint)n);
            await wire.WriteAsync(data[..n], ct);
            Sent = true;
            offset += n;
            data = data[n..];
        } while (!data.IsEmpty);
    }

    private async Task WriteSharedAsync(long offset, SharedBuffer buffer, int at, int length, CancellationToken ct)
    {
        if (_op != DataWire.OpFileWriteShared || _wire?.Registered?.ContainsKey(buffer) != true)
        {
            if (_op != 0) await FinishCallAsync(ct);
            _wire ??= await client.RentAsync(ct);
            await DataSocketClient.RegisterAllAsync(_wire, [(buffer, at, length)], ct);
        }
        var wire = await StartAsync(DataWire.OpFileWriteShared, ct);
        await wire.EnsureRoomAsync(24, ct);
        wire.WriteUInt64((ulong)offset);
        wire.WriteUInt32((uint)length);
        wire.WriteUInt32(wire.Registered![buffer]);
        wire.WriteUInt64((ulong)at);
        Sent = true;
    }

    public async Task<WriteResponse> CompleteAsync(CancellationToken ct)
    {
        if (_op == 0) await StartAsync(DataWire.OpFileWrite, ct);
        var size = await FinishCallAsync(ct);
        _clean = true;
        return new WriteResponse { BytesWritten = _written, Size = size };
    }

    /// <summary>Ends the node's current call and waits for its answer; returns the session's size.</summary>
    private async Task<long> FinishCallAsync(CancellationToken ct)
    {
        var wire = _wire!;
        await wire.EnsureRoomAsync(12, ct);
        wire.WriteUInt64(0);
        wire.WriteUInt32(DataWire.RecordEnd);
        await wire.FlushAsync(ct);
        Sent = true;
        _op = 0;
        await DataSocketClient.ReadFilesStatusAsync(wire, magic: true, ct);
        _written += (long)await wire.ReadUInt64Async(ct);
        return (long)await wire.ReadUInt64Async(ct);
    }

    /// <summary>After a failed send: the node refused the stream and closed it; its answer says why (thrown as gRPC would).</summary>
    public async Task ThrowRefusalAsync(CancellationToken ct)
    {
        if (_wire is null) return;
        await DataSocketClient.ReadFilesStatusAsync(_wire, magic: true, ct);
    }

    private async ValueTask<WireConnection> StartAsync(byte op, CancellationToken ct)
    {
        if (_op == op) return _wire!;
        if (_op != 0) await FinishCallAsync(ct);
        var wire = _wire ??= await client.RentAsync(ct);
        await wire.EnsureRoomAsync(DataWire.RequestHeaderBytes + 8, ct);
        await wire.WriteRequestHeaderAsync(op, [], 0, ct);
        wire.WriteUInt64(sessionId);
        _op = op;
        return wire;
    }

    public ValueTask DisposeAsync()
    {
        // An unfinished stream is cut: the node keeps the records it took, as with a cancelled gRPC Write.
        if (_wire is not null) client.Return(_wire, _clean);
        if (!_clean && _wire is not null) client.DropIdle();
        _wire = null;
        return ValueTask.CompletedTask;
    }
}
