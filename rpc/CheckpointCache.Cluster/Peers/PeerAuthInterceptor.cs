using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Cluster.Peers;

/// <summary>
/// Refuses peer calls that do not carry the cluster's shared token ("authorization: Bearer &lt;token&gt;")
/// with UNAUTHENTICATED. With no token configured (allowed on loopback only) every call passes.
/// </summary>
public sealed class PeerAuthInterceptor(PeerToken token, ILogger<PeerAuthInterceptor> logger) : Interceptor
{
    public const string Header = "authorization";

    private void Check(ServerCallContext context)
    {
        if (token.Value.Length == 0) return;
        var presented = context.RequestHeaders.GetValue(Header) ?? "";
        var expected = Encoding.UTF8.GetBytes("Bearer " + token.Value);
        // Constant time, so the comparison does not leak how much of a guess was right.
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), expected))
        {
            logger.LogWarning("Refused unauthenticated peer call {Method} from {Peer}", context.Method, context.Peer);
            throw new RpcException(new Status(StatusCode.Unauthenticated, "peer calls need the cluster's token (Cluster:PeerToken)"));
        }
    }

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, responseStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(requestStream, responseStream, context);
    }
}

/// <summary>The shared peer token (empty when none is configured).</summary>
public sealed record PeerToken(string Value);
