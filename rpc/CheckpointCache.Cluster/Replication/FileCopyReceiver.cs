using System.IO.Hashing;
using CheckpointCache.Engine.Files;
using CheckpointCache.Rpc.Peer.V1;
using Grpc.Core;

namespace CheckpointCache.Cluster.Replication;

/// <summary>
/// Takes one file version from a stream of frames (a peer pushing it, or a holder answering a read) into the tree:
/// written under a hidden name, checked against the length and XXH64 the sender announced, and renamed into place
/// only then. A cut stream, a short one or a checksum mismatch leaves nothing behind and is an error, never wrong bytes.
/// </summary>
internal static class FileCopyReceiver
{
    /// <summary>Stored: the copy is in place. NewerHeld: this node already had this version or a newer one (the frames are drained).</summary>
    public static async Task<(bool Stored, bool NewerHeld)> ReceiveAsync(FileTree tree, FileFrame header, IAsyncStreamReader<FileFrame> frames, CancellationToken ct)
    {
        long size = (long)header.Size;
        await using var writer = await tree.BeginReplicaAsync(header.Path, header.Stamp.ToEngine(), ct).ConfigureAwait(false);
        var hash = new XxHash64();
        long received = 0;
        bool last = false;
        ulong checksum = 0;
        while (!last && await frames.MoveNext(ct).ConfigureAwait(false))
        {
            var f = frames.Current;
            if (!f.Data.IsEmpty)
            {
                if (received + f.Data.Length > size)
                    throw new RpcException(new Status(StatusCode.InvalidArgument, $"'{header.Path}': more than the announced {size} bytes arrived"));
                if (writer is not null)
                {
                    hash.Append(f.Data.Span);
                    await writer.WriteAsync(received, f.Data.Memory, ct).ConfigureAwait(false);
                }
                received += f.Data.Length;
            }
            if (f.Last) { last = true; checksum = f.Checksum; }
        }
        if (writer is null) return (false, true);
        if (!last) throw new RpcException(new Status(StatusCode.Aborted, $"'{header.Path}': the stream ended after {received} of {size} bytes, before its checksum"));
        if (received != size) throw new RpcException(new Status(StatusCode.InvalidArgument, $"'{header.Path}': {received} of the announced {size} bytes arrived"));
        if (hash.GetCurrentHashAsUInt64() != checksum)
            throw new RpcException(new Status(StatusCode.DataLoss, $"'{header.Path}': XXH64 of the {size} bytes received does not match the sender's; the copy is discarded"));
        bool stored = await writer.CompleteAsync(size, ct).ConfigureAwait(false);
        return (stored, !stored);
    }
}
