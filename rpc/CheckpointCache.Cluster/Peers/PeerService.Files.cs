using CheckpointCache.Cluster.Replication;
using CheckpointCache.Engine.Files;
using CheckpointCache.Rpc.Peer.V1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Cluster.Peers;

/// <summary>The peer calls of replicated files stores: whole committed versions, listings with stamps, deletes and renames.</summary>
public sealed partial class PeerService
{
    private FileTree FileStore(string name)
        => files.Find(name) ?? throw new RpcException(new Status(StatusCode.NotFound, $"store '{name}' is not a replicated files store on this node"));

    public override async Task<ReplicateFileResponse> ReplicateFile(IAsyncStreamReader<FileFrame> requestStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        if (!await requestStream.MoveNext(ct) || !requestStream.Current.Header)
            throw new RpcException(new Status(StatusCode.InvalidArgument, "ReplicateFile starts with a header frame (store, path, stamp, size)"));
        var header = requestStream.Current;
        var tree = FileStore(header.Store);
        var (stored, newerHeld) = await FileCopyReceiver.ReceiveAsync(tree, header, requestStream, ct);
        if (stored)
        {
            counters.FileReceived(read: false);
            logger.LogDebug("Took {Path} of {Store} ({Bytes} bytes, stamp {Clock}@{Origin}) from {From}", header.Path, header.Store, header.Size, header.Stamp.Clock, header.Stamp.Origin, header.FromNode);
        }
        return new ReplicateFileResponse { Stored = stored, NewerHeld = newerHeld };
    }

    public override async Task FetchFile(FetchFileRequest request, IServerStreamWriter<FileFrame> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        await using var file = await FileStore(request.Store).OpenCommittedAsync(request.Path, ct);
        if (file is null)
        {
            await responseStream.WriteAsync(new FileFrame { Header = true, Found = false, Store = request.Store, Path = request.Path }, ct);
            return;
        }
        await responseStream.WriteAsync(new FileFrame { Header = true, Found = true, Store = request.Store, Path = file.Path, Stamp = file.Stamp.ToProto(), Size = (ulong)file.Size }, ct);
        var hash = new System.IO.Hashing.XxHash64();
        var buffer = new byte[FrameBytes];
        for (long offset = 0; offset < file.Size;)
        {
            int n = await file.Session.ReadAsync(offset, buffer, ct);
            if (n == 0) break;
            hash.Append(buffer.AsSpan(0, n));
            await responseStream.WriteAsync(new FileFrame { Data = ByteString.CopyFrom(buffer, 0, n) }, ct);
            offset += n;
        }
        await responseStream.WriteAsync(new FileFrame { Last = true, Checksum = hash.GetCurrentHashAsUInt64() }, ct);
        counters.Served(file.Size);
    }

    public override async Task<ListFilesResponse> ListFiles(ListFilesRequest request, ServerCallContext context)
    {
        var (entries, exists) = await FileStore(request.Store).ListReplicaEntriesAsync(request.Directory, context.CancellationToken);
        var response = new ListFilesResponse { DirectoryExists = exists };
        response.Entries.AddRange(entries.Select(e => e.ToProto()));
        return response;
    }

    public override async Task<RemoveFilesResponse> RemoveFiles(RemoveFilesRequest request, ServerCallContext context)
    {
        var tree = FileStore(request.Store);
        var stamp = request.Stamp.ToEngine();
        if (stamp.IsNone) throw new RpcException(new Status(StatusCode.InvalidArgument, "RemoveFiles needs the delete's stamp"));
        var response = new RemoveFilesResponse();
        foreach (var path in request.Paths)
            response.Applied.Add(request.Superseded
                ? await tree.DropReplicaAsync(path, stamp, olderToo: true, context.CancellationToken)
                : await tree.ApplyRemoteDeleteAsync(path, stamp, context.CancellationToken));
        return response;
    }

    public override async Task<RenameFileResponse> RenameFile(RenameFileRequest request, ServerCallContext context)
    {
        var stamp = request.Stamp.ToEngine();
        if (stamp.IsNone) throw new RpcException(new Status(StatusCode.InvalidArgument, "RenameFile needs the rename's stamp"));
        if (FilePath.DirectoryOf(request.Source) != FilePath.DirectoryOf(request.Target))
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"RenameFile moves within one directory only ('{request.Source}' -> '{request.Target}')"));
        bool applied = await FileStore(request.Store).ApplyRemoteRenameAsync(request.Source, request.Target, stamp, context.CancellationToken);
        return new RenameFileResponse { Applied = applied };
    }
}
