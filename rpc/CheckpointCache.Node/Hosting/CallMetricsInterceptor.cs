using System.Diagnostics;
using CheckpointCache.Node.Metrics;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace CheckpointCache.Node.Hosting;

/// <summary>Counts every call by method and final status and records its duration.</summary>
public sealed class CallMetricsInterceptor(NodeMetrics metrics) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var started = Stopwatch.GetTimestamp();
        var code = StatusCode.Unknown;
        try
        {
            var response = await continuation(request, context);
            code = StatusCode.OK;
            return response;
        }
        catch (RpcException e) { code = e.StatusCode; throw; }
        finally { Record(context, code, started); }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var started = Stopwatch.GetTimestamp();
        var code = StatusCode.Unknown;
        try
        {
            var response = await continuation(requestStream, context);
            code = StatusCode.OK;
            return response;
        }
        catch (RpcException e) { code = e.StatusCode; throw; }
        finally { Record(context, code, started); }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var started = Stopwatch.GetTimestamp();
        var code = StatusCode.Unknown;
        try
        {
            await continuation(request, responseStream, context);
            code = StatusCode.OK;
        }
        catch (RpcException e) { code = e.StatusCode; throw; }
        finally { Record(context, code, started); }
    }

    private void Record(ServerCallContext context, StatusCode code, long started)
    {
        // "/checkpointcache.kv.v1.KvCache/BatchGet" -> "BatchGet"
        var method = context.Method[(context.Method.LastIndexOf('/') + 1)..];
        metrics.Call(method, code, Stopwatch.GetElapsedTime(started));
    }
}
