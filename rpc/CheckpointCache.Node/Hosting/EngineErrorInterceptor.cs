using CheckpointCache.Engine;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Node.Hosting;

/// <summary>
/// Engine refusals that reach the edge of a call become the matching gRPC status; anything unexpected
/// is logged and becomes INTERNAL, and the node stays up.
/// </summary>
public sealed class EngineErrorInterceptor(ILogger<EngineErrorInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try { return await continuation(request, context); }
        catch (Exception e) when (Translate(e, context) is { } status) { throw status; }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try { return await continuation(requestStream, context); }
        catch (Exception e) when (Translate(e, context) is { } status) { throw status; }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try { await continuation(request, responseStream, context); }
        catch (Exception e) when (Translate(e, context) is { } status) { throw status; }
    }

    private RpcException? Translate(Exception e, ServerCallContext context)
    {
        switch (e)
        {
            case RpcException:
                return null;
            case CacheException cache:
                return RpcErrors.FromEngine(cache);
            case Engine.Files.FilesException files:
                return Files.FilesErrors.ToRpc(files);
            case OperationCanceledException when context.CancellationToken.IsCancellationRequested:
                return context.Deadline <= DateTime.UtcNow
                    ? RpcErrors.Status(StatusCode.DeadlineExceeded, $"deadline expired during {context.Method}; nothing half-written was kept")
                    : RpcErrors.Status(StatusCode.Cancelled, $"{context.Method} was cancelled by the client");
            default:
                logger.LogError(e, "{Method} failed unexpectedly", context.Method);
                return RpcErrors.Status(StatusCode.Internal, $"{context.Method} failed: {e.GetType().Name}: {e.Message}");
        }
    }
}
