using CheckpointCache.Rpc.Files.V1;

namespace CheckpointCache.Client.DataSocket;

/// <summary>
/// One Files Write on the data socket: the session id, then (offset, length, bytes) records as the caller writes,
/// then an end record and the node's answer. The connection is held for the whole stream, so records go out
/// without a round trip each, as frames of a gRPC client stream do.
/// </summary>
internal sealed class DataSocketFileWriter(DataSocketClient client, ulong sessionId) : IAsyncDisposable
{
    private WireConnection? _wire;
    private bool _clean;

    /// <summary>Whether a whole record (or the end) was handed to the socket: before that, the node has applied nothing.</summary>
    public bool Sent { get; private set; }

    public async Task WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        var wire = await StartAsync(ct);
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

    public async Task<WriteResponse> CompleteAsync(CancellationToken ct)
    {
        var wire = await StartAsync(ct);
        await wire.EnsureRoomAsync(12, ct);
        wire.WriteUInt64(0);
        wire.WriteUInt32(DataWire.RecordEnd);
        await wire.FlushAsync(ct);
        Sent = true;
        await DataSocketClient.ReadFilesStatusAsync(wire, magic: true, ct);
        var response = new WriteResponse { BytesWritten = (long)await wire.ReadUInt64Async(ct), Size = (long)await wire.ReadUInt64Async(ct) };
        _clean = true;
        return response;
    }

    /// <summary>After a failed send: the node refused the stream and closed it; its answer says why (thrown as gRPC would).</summary>
    public async Task ThrowRefusalAsync(CancellationToken ct)
    {
        if (_wire is null) return;
        await DataSocketClient.ReadFilesStatusAsync(_wire, magic: true, ct);
    }

    private async ValueTask<WireConnection> StartAsync(CancellationToken ct)
    {
        if (_wire is not null) return _wire;
        var wire = await client.RentAsync(ct);
        _wire = wire;
        await wire.WriteRequestHeaderAsync(DataWire.OpFileWrite, [], 0, ct);
        wire.WriteUInt64(sessionId);
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
