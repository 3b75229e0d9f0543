using CheckpointCache.Engine;
using Grpc.Core;

namespace CheckpointCache.Node;

/// <summary>Turns refusals into gRPC statuses whose messages name the limit or the thing that was missing.</summary>
internal static class RpcErrors
{
    public static RpcException Status(StatusCode code, string message) => new(new Status(code, message));

    public static RpcException InvalidArgument(string message) => Status(StatusCode.InvalidArgument, message);
    public static RpcException ResourceExhausted(string message) => Status(StatusCode.ResourceExhausted, message);
    public static RpcException NotFound(string message) => Status(StatusCode.NotFound, message);

    /// <summary>How a whole call fails when the engine refuses it.</summary>
    public static RpcException FromEngine(CacheException e) => Status(CodeOf(e), e.Message);

    public static StatusCode CodeOf(CacheException e) => e.Code switch
    {
        CacheErrorCode.InvalidArgument => StatusCode.InvalidArgument,
        CacheErrorCode.OutOfSpace => StatusCode.ResourceExhausted,
        CacheErrorCode.NamespaceNotFound => StatusCode.NotFound,
        CacheErrorCode.LengthMismatch => StatusCode.InvalidArgument,
        CacheErrorCode.ShuttingDown => StatusCode.Unavailable,
        _ => StatusCode.Internal,
    };
}
