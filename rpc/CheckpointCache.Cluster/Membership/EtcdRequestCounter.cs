using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace CheckpointCache.Cluster.Membership;

/// <summary>
/// Counts every request message this node sends to etcd, by method: a unary call is one, and on a
/// stream (lease keep-alive, watch) each message sent is one. It sits on the gRPC call invoker under
/// the etcd client, so nothing can reach etcd uncounted. Messages received on watch streams are
/// counted apart (they cost etcd fan-out, not requests).
/// </summary>
public sealed class EtcdRequestCounter : Interceptor
{
    private readonly ConcurrentDictionary<string, long> _byMethod = new(StringComparer.Ordinal);
    private long _total;
    private long _received;

    public long Total => Interlocked.Read(ref _total);
    public long Received => Interlocked.Read(ref _received);
    public IReadOnlyDictionary<string, long> ByMethod => new Dictionary<string, long>(_byMethod);

    /// <summary>Raised for each request with the method's short name ("Put", "LeaseKeepAlive").</summary>
    public event Action<string>? Sent;

    internal void Count(string fullMethod)
    {
        var method = fullMethod[(fullMethod.LastIndexOf('/') + 1)..];
        _byMethod.AddOrUpdate(method, 1, static (_, n) => n + 1);
        Interlocked.Increment(ref _total);
        Sent?.Invoke(method);
    }

    internal void CountReceived() => Interlocked.Increment(ref _received);

    public override TResponse BlockingUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, BlockingUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        Count(context.Method.FullName);
        return continuation(request, context);
    }

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        Count(context.Method.FullName);
        return continuation(request, context);
    }

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        Count(context.Method.FullName);
        return continuation(request, context);
    }

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        var call = continuation(context);
        return new AsyncClientStreamingCall<TRequest, TResponse>(new CountingWriter<TRequest>(call.RequestStream, this, context.Method.FullName),
            call.ResponseAsync, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context, AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation)
    {
        var call = continuation(context);
        return new AsyncDuplexStreamingCall<TRequest, TResponse>(new CountingWriter<TRequest>(call.RequestStream, this, context.Method.FullName),
            new CountingReader<TResponse>(call.ResponseStream, this), call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }

    private sealed class CountingWriter<T>(IClientStreamWriter<T> inner, EtcdRequestCounter counter, string method) : IClientStreamWriter<T>
    {
        public WriteOptions? WriteOptions { get => inner.WriteOptions; set => inner.WriteOptions = value; }
        public Task CompleteAsync() => inner.CompleteAsync();
        public Task WriteAsync(T message)
        {
            counter.Count(method);
            return inner.WriteAsync(message);
        }
    }

    private sealed class CountingReader<T>(IAsyncStreamReader<T> inner, EtcdRequestCounter counter) : IAsyncStreamReader<T>
    {
        public T Current => inner.Current;
        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            bool more = await inner.MoveNext(cancellationToken).ConfigureAwait(false);
            if (more) counter.CountReceived();
            return more;
        }
    }
}
