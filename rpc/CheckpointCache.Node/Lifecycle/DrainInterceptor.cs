using CheckpointCache.Rpc.Files.V1;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace CheckpointCache.Node.Lifecycle;

/// <summary>
/// Refuses new client writes once a drain has begun, with UNAVAILABLE (clients and the mount retry it, on
/// this node after its restart or on another) and a message naming the drain; counts the writes in flight so
/// the drain can wait for them. Calls that continue a file session opened before the drain (Write, Commit,
/// Close) are in-flight work: they are counted, not refused. Reads and peer calls pass untouched.
/// </summary>
public sealed class DrainInterceptor(NodeLifecycle lifecycle, NodeIdentity identity) : Interceptor
{
    private const string Kv = "/checkpointcache.kv.v1.KvCache/";
    private const string Files = "/checkpointcache.files.v1.Files/";

    /// <summary>Calls that start new writes.</summary>
    private static readonly HashSet<string> NewWrites = new(StringComparer.Ordinal)
    {
        Kv + "BatchPut", Kv + "Delete",
        Files + "Mkdir", Files + "Truncate", Files + "Rename", Files + "Delete", Files + "SetAttributes",
    };

    /// <summary>Calls that continue a write session opened earlier.</summary>
    private static readonly HashSet<string> SessionWrites = new(StringComparer.Ordinal) { Files + "Write", Files + "Commit", Files + "Close" };

    private const uint OpenForWriting = (uint)(OpenFlags.OpenWrite | OpenFlags.OpenCreate | OpenFlags.OpenTruncate);

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        bool isNew = NewWrites.Contains(context.Method) || request is OpenRequest open && (open.Flags & OpenForWriting) != 0;
        if (!Enter(context.Method, isNew)) return await continuation(request, context);
        try { return await continuation(request, context); }
        finally { lifecycle.EndWrite(); }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        if (!Enter(context.Method, NewWrites.Contains(context.Method))) return await continuation(requestStream, context);
        try { return await continuation(requestStream, context); }
        finally { lifecycle.EndWrite(); }
    }

    /// <summary>True when the call is a write that was counted in (and must be counted out); throws when it is refused.</summary>
    private bool Enter(string method, bool isNew)
    {
        if (isNew)
        {
            if (lifecycle.TryBeginWrite()) return true;
            throw new RpcException(new Status(StatusCode.Unavailable,
                $"node '{identity.NodeId}' is draining (drain requested or SIGTERM): new writes are refused, reads are still served; retry on another node or after the restart"));
        }
        if (!SessionWrites.Contains(method)) return false;
        lifecycle.BeginSessionWrite();
        return true;
    }
}
