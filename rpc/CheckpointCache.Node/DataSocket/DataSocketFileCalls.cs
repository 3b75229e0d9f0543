using System.Buffers;
using CheckpointCache.Client.DataSocket;
using CheckpointCache.Engine.Files;
using CheckpointCache.Node.Files;
using CheckpointCache.Node.Lifecycle;
using Grpc.Core;

namespace CheckpointCache.Node.DataSocket;

/// <summary>
/// Files Write and Read on the data socket, with the gRPC calls' meaning (FilesService.Write/Read): writes go into an
/// open session at the offsets given, reads come from a session; refusals carry the same status and the same
/// files-error name as gRPC's trailer. A write is in-flight work for a drain (counted, never refused), as over gRPC.
/// </summary>
public sealed class DataSocketFileCalls(FileTreeRegistry registry, NodeLifecycle lifecycle)
{
    /// <summary>Bytes a read takes from the session at a time.</summary>
    private const int ReadSpanBytes = 1024 * 1024;

    /// <summary>A files refusal: the status, message and files-error name gRPC would carry.</summary>
    internal static (StatusCode Code, string Message, string Error) Refusal(FilesException e)
    {
        var rpc = FilesErrors.ToRpc(e);
        return (rpc.StatusCode, rpc.Status.Detail, rpc.Trailers.GetValue(FilesErrors.TrailerName) ?? "");
    }

    /// <summary>Serves a write stream; returns the call's status (the connection closes on a refusal).</summary>
    public async Task<StatusCode> WriteAsync(WireConnection wire, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ReadSpanBytes);
        try
        {
            return await ServeWriteAsync(wire, async (_, length) =>
            {
                if (length > DataWire.MaxRecordBytes)
                    throw new FilesException(FilesErrorCode.InvalidArgument, $"a write record of {length} bytes is over the data socket's {DataWire.MaxRecordBytes}");
                if (buffer.Length < length)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = ArrayPool<byte>.Shared.Rent((int)length);
                }
                await wire.ReadExactAsync(buffer.AsMemory(0, (int)length), ct);
                return buffer.AsMemory(0, (int)length);
            }, ct);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The write stream of ops 3 and 8: the session id, then records of an offset, a length and what <paramref name="data"/>
    /// takes from the wire to give the record's bytes (given the record's index and length), up to the end record; then
    /// the answer. In-flight work for a drain, counted and never refused.
    /// </summary>
    internal async Task<StatusCode> ServeWriteAsync(WireConnection wire, Func<int, uint, ValueTask<ReadOnlyMemory<byte>>> data, CancellationToken ct)
    {
        ulong sessionId = await wire.ReadUInt64Async(ct);
        lifecycle.BeginSessionWrite();
        long written = 0;
        FileSession? session = null;
        try
        {
            for (int record = 0; ; record++)
            {
                long offset = (long)await wire.ReadUInt64Async(ct);
                uint length = await wire.ReadUInt32Async(ct);
                if (length == DataWire.RecordEnd) break;
                var bytes = await data(record, length);
                session ??= registry.GetSession(sessionId);
                await session.WriteAsync(offset, bytes, ct);
                written += length;
            }
            session ??= registry.GetSession(sessionId);
            Header(wire, StatusCode.OK, "", "");
            wire.WriteUInt64((ulong)written);
            wire.WriteUInt64((ulong)session.Size);
            return StatusCode.OK;
        }
        catch (FilesException e)
        {
            var (code, message, error) = Refusal(e);
            await wire.EnsureRoomAsync(WireConnection.ItemFramingBytes, ct);
            Header(wire, code, message, error);
            return code;
        }
        finally
        {
            lifecycle.EndWrite();
        }
    }

    /// <summary>Serves one read as segments; a refusal before the first byte fails the call, one later aborts the segments.</summary>
    public async Task<StatusCode> ReadAsync(WireConnection wire, CancellationToken ct)
    {
        ulong sessionId = await wire.ReadUInt64Async(ct);
        long offset = (long)await wire.ReadUInt64Async(ct);
        long length = (long)await wire.ReadUInt64Async(ct);
        FileSession session;
        try
        {
            if (offset < 0 || length < 0)
                throw new FilesException(FilesErrorCode.InvalidArgument, $"read offset {offset} and length {length} must not be negative");
            session = registry.GetSession(sessionId);
        }
        catch (FilesException e)
        {
            var (code, message, error) = Refusal(e);
            Header(wire, code, message, error);
            return code;
        }
        Header(wire, StatusCode.OK, "", "");
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(ReadSpanBytes, Math.Max(1, length)));
        try
        {
            for (long at = offset, end = offset + length; at < end;)
            {
                int n;
                try
                {
                    n = await session.ReadAsync(at, buffer.AsMemory(0, (int)Math.Min(buffer.Length, end - at)), ct);
                }
                catch (FilesException e)
                {
                    var (code, message, error) = Refusal(e);
                    await wire.EnsureRoomAsync(WireConnection.ItemFramingBytes, ct);
                    wire.WriteUInt32(DataWire.SegmentAbort);
                    Header(wire, code, message, error, magic: false);
                    return code;
                }
                if (n == 0) break; // end of file
                await wire.EnsureRoomAsync(8, ct);
                wire.WriteUInt32((uint)n);
                await wire.WriteAsync(buffer.AsMemory(0, n), ct);
                at += n;
            }
            await wire.EnsureRoomAsync(8, ct);
            wire.WriteUInt32(DataWire.SegmentEnd);
            return StatusCode.OK;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    internal static void Header(WireConnection wire, StatusCode code, string message, string error, bool magic = true)
    {
        if (magic) wire.WriteUInt32(DataWire.ResponseMagic);
        wire.WriteInt32((int)code);
        wire.WriteString(message);
        wire.WriteString(error);
    }
}
