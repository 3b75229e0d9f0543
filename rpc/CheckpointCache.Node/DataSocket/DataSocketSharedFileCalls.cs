using CheckpointCache.Client.DataSocket;
using CheckpointCache.Engine.Files;
using CheckpointCache.Node.Files;
using Grpc.Core;
using static CheckpointCache.Node.DataSocket.DataSocketFileCalls;

namespace CheckpointCache.Node.DataSocket;

/// <summary>
/// Files Write and Read through shared buffers (docs/api.md, "Shared buffers"): the node writes a session's bytes
/// straight out of the client's mapped memory and reads them straight into it, so no file byte crosses the socket.
/// Same statuses, files-error names and drain accounting as <see cref="DataSocketFileCalls"/>.
/// </summary>
public sealed class DataSocketSharedFileCalls(FileTreeRegistry registry, DataSocketFileCalls files)
{
    /// <summary>Serves a write stream whose records name places in shared buffers; returns the call's status.</summary>
    internal Task<StatusCode> WriteAsync(WireConnection wire, SharedRegions regions, CancellationToken ct)
        => files.ServeWriteAsync(wire, async (record, length) =>
        {
            uint region = await wire.ReadUInt32Async(ct);
            ulong regionOffset = await wire.ReadUInt64Async(ct);
            var (source, misplaced) = regions.Slice(region, regionOffset, length, $"write record {record}");
            return misplaced is null ? source : throw new FilesException(FilesErrorCode.InvalidArgument, misplaced);
        }, ct);

    /// <summary>Serves one read into a shared buffer: the status, then the bytes read (fewer at the end of the file).</summary>
    internal async Task<StatusCode> ReadAsync(WireConnection wire, SharedRegions regions, CancellationToken ct)
    {
        ulong sessionId = await wire.ReadUInt64Async(ct);
        long offset = (long)await wire.ReadUInt64Async(ct);
        ulong length = await wire.ReadUInt64Async(ct);
        uint region = await wire.ReadUInt32Async(ct);
        ulong regionOffset = await wire.ReadUInt64Async(ct);
        try
        {
            if (offset < 0) throw new FilesException(FilesErrorCode.InvalidArgument, $"read offset {offset} must not be negative");
            var (destination, misplaced) = regions.Slice(region, regionOffset, length, "the read's destination");
            if (misplaced is not null) throw new FilesException(FilesErrorCode.InvalidArgument, misplaced);
            var session = registry.GetSession(sessionId);
            int total = 0;
            // Straight from the session into the client's memory.
            while (total < destination.Length)
            {
                int n = await session.ReadAsync(offset + total, destination[total..], ct);
                if (n == 0) break; // end of file
                total += n;
            }
            Header(wire, StatusCode.OK, "", "");
            wire.WriteUInt64((ulong)total);
            return StatusCode.OK;
        }
        catch (FilesException e)
        {
            var (code, message, error) = Refusal(e);
            Header(wire, code, message, error);
            return code;
        }
    }
}
