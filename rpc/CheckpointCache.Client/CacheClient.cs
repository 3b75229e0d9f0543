using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using CheckpointCache.Client.DataSocket;
using CheckpointCache.Client.SharedMemory;
using CheckpointCache.Rpc.Kv.V1;
using CheckpointCache.Rpc.Node.V1;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace CheckpointCache.Client;

/// <summary>
/// Typed, async, batch-first client of a CheckpointCache node over its Unix socket or TCP. Thread-safe:
/// share one per process; calls on it run concurrently over multiplexed HTTP/2 connections.
/// </summary>
public sealed class CacheClient : IDisposable
{
    private readonly GrpcChannel _channel;
    private readonly CacheClientOptions _options;
    private readonly ConcurrentDictionary<string, bool> _grpcOnlyStores = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _dataLookup = new(1, 1);
    private DataSocketClient? _data;
    private long _dataRetryAt;

    private CacheClient(GrpcChannel channel, NodeEndpoint endpoint, CacheClientOptions options)
    {
        _channel = channel;
        _options = options;
        Endpoint = endpoint;
        Kv = new KvCache.KvCacheClient(channel);
        Node = new Rpc.Node.V1.Node.NodeClient(channel);
    }

    public NodeEndpoint Endpoint { get; }

    /// <summary>The generated stubs, for what this class does not wrap.</summary>
    public KvCache.KvCacheClient Kv { get; }
    public Rpc.Node.V1.Node.NodeClient Node { get; }
    public GrpcChannel Channel => _channel;

    /// <summary>Connects lazily: nothing is sent until the first call.</summary>
    public static CacheClient Connect(string endpoint, CacheClientOptions? options = null)
        => Connect(NodeEndpoint.Parse(endpoint), options);

    public static CacheClient Connect(NodeEndpoint endpoint, CacheClientOptions? options = null)
    {
        options ??= new CacheClientOptions();
        var handler = new SocketsHttpHandler
        {
            // Several HTTP/2 connections once one is full of streams, so concurrent large transfers do not queue.
            EnableMultipleHttp2Connections = true,
            InitialHttp2StreamWindowSize = 16 * 1024 * 1024,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        };
        handler.ConnectCallback = endpoint.IsUnixSocket
            ? (_, ct) => endpoint.ConnectUnixSocketAsync(ct)
            : (context, ct) => NodeEndpoint.ConnectTcpAsync(context.DnsEndPoint, ct);
        var address = endpoint.IsUnixSocket ? new Uri("http://localhost") : endpoint.Address!;
        var channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = handler,
            MaxReceiveMessageSize = options.MaxReceiveMessageBytes,
            MaxSendMessageSize = null,
        });
        return new CacheClient(channel, endpoint, options);
    }

    private CallOptions Call(CancellationToken ct) => new(deadline: DateTime.UtcNow + _options.CallTimeout, cancellationToken: ct);

    /// <summary>Declares (idempotently) the namespace of <paramref name="descriptor"/> in <paramref name="store"/> ("" is "kv").</summary>
    public async Task<KvNamespace> DeclareNamespaceAsync(NamespaceDescriptor descriptor, string store = "", CancellationToken cancellationToken = default)
    {
        var response = await Kv.DeclareNamespaceAsync(new DeclareNamespaceRequest { Store = store, Descriptor_ = descriptor }, Call(cancellationToken));
        var id = response.Namespace.Id.ToByteArray();
        // The node hashes what we sent; the same id proves both sides follow the same key spec.
        if (!id.AsSpan().SequenceEqual(KeySpec.NamespaceId(descriptor)))
            throw new InvalidOperationException($"node returned namespace id {Convert.ToHexStringLower(id)} for a descriptor this client hashes differently (key spec {response.KeySpecVersion} vs {KeySpec.Version})");
        return new KvNamespace(response.Namespace.Store, id, descriptor.Clone());
    }

    /// <summary>Stores every item; one result per item, in order. Values go over the data socket when there is one, else in gRPC frames of <see cref="CacheClientOptions.FrameBytes"/>.</summary>
    public async Task<IReadOnlyList<KeyResult>> BatchPutAsync(KvNamespace ns, IReadOnlyList<KvItem> items, CancellationToken cancellationToken = default)
    {
        if (SharedPlaces(items.Select(i => i.Value).ToList()) is { } places && await DataSocketForAsync(ns, cancellationToken) is { } shared)
        {
            try
            {
                return await shared.PutSharedAsync(ns.ToRef(), items.Select(i => i.Key).ToList(), places, _options.CallTimeout, cancellationToken);
            }
            catch (SharedBufferRefusedException)
            {
                // The node will not map the buffer: the values go through the socket instead.
            }
            catch (Exception e) when (DataSocketFallback(ns, e))
            {
            }
        }
        if (await DataSocketForAsync(ns, cancellationToken) is { } data)
        {
            try
            {
                return await data.PutAsync(ns.ToRef(), items, _options.CallTimeout, cancellationToken);
            }
            catch (Exception e) when (DataSocketFallback(ns, e))
            {
            }
        }
        using var call = Kv.BatchPut(Call(cancellationToken));
        try
        {
            bool first = true;
            foreach (var item in items)
            {
                await WriteItemAsync(call.RequestStream, first ? ns.ToRef() : null, item.Key, item.Value, cancellationToken);
                first = false;
            }
            await call.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException)
        {
            // The node ended the call while frames were still going out (a limit, an unknown namespace,
            // the deadline): the call's own status, thrown below, says why.
        }
        var response = await call;
        return response.Results.Select(r => new KeyResult((int)r.Index, (StatusCode)r.Code, r.Message, (int)r.Replicas)).ToList();
    }

    /// <summary>Stores one value read from <paramref name="value"/> (exactly <paramref name="length"/> bytes) without holding all of it.</summary>
    public async Task<KeyResult> PutStreamAsync(KvNamespace ns, ReadOnlyMemory<byte> key, Stream value, long length, CancellationToken cancellationToken = default)
    {
        using var call = Kv.BatchPut(Call(cancellationToken));
        var buffer = new byte[Math.Min(_options.FrameBytes, Math.Max(1, length))];
        var frame = new PutFrame { Namespace = ns.ToRef(), NewItem = true, Key = ByteString.CopyFrom(key.Span), TotalLength = (ulong)length };
        long sent = 0;
        try
        {
            do
            {
                int n = length == 0 ? 0 : await value.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, length - sent)), cancellationToken);
                if (n == 0 && sent < length) throw new EndOfStreamException($"the value ended after {sent} of {length} bytes");
                frame.Data = ByteString.CopyFrom(buffer, 0, n);
                await call.RequestStream.WriteAsync(frame, cancellationToken);
                sent += n;
                frame = new PutFrame();
            } while (sent < length);
            await call.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException)
        {
            // As in BatchPutAsync: the call's status, thrown below, says why it ended.
        }
        var response = await call;
        var r = response.Results.Single();
        return new KeyResult((int)r.Index, (StatusCode)r.Code, r.Message, (int)r.Replicas);
    }

    private async Task WriteItemAsync(IClientStreamWriter<PutFrame> stream, NamespaceRef? ns, ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> value, CancellationToken ct)
    {
        int frameBytes = _options.FrameBytes;
        int offset = 0;
        var frame = new PutFrame { Namespace = ns, NewItem = true, Key = ByteString.CopyFrom(key.Span), TotalLength = (ulong)value.Length };
        do
        {
            int n = Math.Min(frameBytes, value.Length - offset);
            // The caller's value is not changed while the call runs, so frames can point into it.
            frame.Data = UnsafeByteOperations.UnsafeWrap(value.Slice(offset, n));
            await stream.WriteAsync(frame, ct);
            offset += n;
            frame = new PutFrame();
        } while (offset < value.Length);
    }

    /// <summary>Fetches every key; one result per key, in order. A miss is a result with NOT_FOUND, not an exception.</summary>
    public async Task<IReadOnlyList<GetResult>> BatchGetAsync(KvNamespace ns, IReadOnlyList<ReadOnlyMemory<byte>> keys, CancellationToken cancellationToken = default)
    {
        var values = new byte[]?[keys.Count];
        var filled = await FillAsync(ns, keys, (i, length) => values[i] = GC.AllocateUninitializedArray<byte>(checked((int)length)), cancellationToken);
        return filled.Select(r => new GetResult(r.Index, r.Code, r.Message, r.Tier, r.Hit ? values[r.Index] : null)).ToList();
    }

    /// <summary>
    /// Fetches every key into the caller's memory (<paramref name="destinations"/>[i] for key i: pinned or reused
    /// buffers, no allocation per value). A value longer than its destination is OUT_OF_RANGE and writes nothing.
    /// </summary>
    public Task<IReadOnlyList<FillResult>> BatchGetIntoAsync(KvNamespace ns, IReadOnlyList<ReadOnlyMemory<byte>> keys, IReadOnlyList<Memory<byte>> destinations, CancellationToken cancellationToken = default)
        => GetIntoAsync(ns, keys, destinations, callerThread: null, cancellationToken);

    /// <summary>
    /// <see cref="BatchGetIntoAsync"/> for a caller on its own thread (an inference server's loader thread): the
    /// calling thread blocks until the values are in place. Into shared buffers on a connection already set up, it
    /// also waits for the node's answer itself, in poll(), so the answer is read by the thread that waits for it
    /// instead of being handed from the socket engine's thread to a thread-pool thread (docs/performance.md, rpc).
    /// Never call it on the thread pool, whose threads it would hold for the whole call.
    /// </summary>
    public IReadOnlyList<FillResult> BatchGetInto(KvNamespace ns, IReadOnlyList<ReadOnlyMemory<byte>> keys, IReadOnlyList<Memory<byte>> destinations, CancellationToken cancellationToken = default)
    {
        // Continuations must not be posted to a context this thread would have to run while it blocks here.
        var context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            return GetIntoAsync(ns, keys, destinations, Environment.CurrentManagedThreadId, cancellationToken).GetAwaiter().GetResult();
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(context);
        }
    }

    /// <param name="callerThread">The blocking caller's thread: the answer is waited for in poll() only while the call still runs there.</param>
    private async Task<IReadOnlyList<FillResult>> GetIntoAsync(KvNamespace ns, IReadOnlyList<ReadOnlyMemory<byte>> keys, IReadOnlyList<Memory<byte>> destinations,
        int? callerThread, CancellationToken cancellationToken)
    {
        if (destinations.Count != keys.Count) throw new ArgumentException($"{destinations.Count} destinations for {keys.Count} keys");
        if (SharedPlaces(destinations.Select(d => (ReadOnlyMemory<byte>)d).ToList()) is { } places && await DataSocketForAsync(ns, cancellationToken) is { } shared)
        {
            try
            {
                return await shared.GetSharedAsync(ns.ToRef(), keys, places, _options.CallTimeout, callerThread, cancellationToken);
            }
            catch (SharedBufferRefusedException)
            {
                // The node will not map the buffer: the values come through the socket instead.
            }
            catch (Exception e) when (DataSocketFallback(ns, e))
            {
            }
        }
        var filled = await FillAsync(ns, keys, (i, length) => length <= destinations[i].Length ? (Memory<byte>?)destinations[i] : null, cancellationToken);
        return filled.Select(r => r.Hit && r.Length > destinations[r.Index].Length
            ? r with { Code = StatusCode.OutOfRange, Message = $"key {r.Index}: its value is {r.Length} bytes, its destination holds {destinations[r.Index].Length}", Length = 0 }
            : r).ToList();
    }

    /// <summary>
    /// A buffer the node can write values into and read values from directly, when the node is reached over its
    /// Unix socket: BatchGetInto destinations and BatchPut values that all lie in shared buffers skip the socket
    /// copy (docs/api.md, "Shared buffers"). In huge pages where it can be (<see cref="SharedBuffer.Allocate"/>).
    /// Dispose it when done.
    /// </summary>
    public static SharedBuffer AllocateSharedBuffer(int bytes, string name = "checkpointcache-shared", bool hugePages = true) => SharedBuffer.Allocate(bytes, name, hugePages);

    /// <summary>Where each memory lies in a shared buffer, or null when any of them lies elsewhere.</summary>
    private (SharedBuffer Buffer, int Offset, int Length)[]? SharedPlaces(IReadOnlyList<ReadOnlyMemory<byte>> memories)
    {
        if (memories.Count == 0 || !_options.UseDataSocket || !Endpoint.IsUnixSocket) return null;
        var places = new (SharedBuffer, int, int)[memories.Count];
        for (int i = 0; i < memories.Count; i++)
        {
            if (!SharedBuffer.TryLocate(memories[i], out var buffer, out int offset)) return null;
            places[i] = (buffer, offset, memories[i].Length);
        }
        return places;
    }

    /// <summary>The data socket when there is one, else gRPC; <paramref name="destination"/> gives where value i of a length goes (null: drop it).</summary>
    private async Task<IReadOnlyList<FillResult>> FillAsync(KvNamespace ns, IReadOnlyList<ReadOnlyMemory<byte>> keys, Func<int, long, Memory<byte>?> destination, CancellationToken cancellationToken)
    {
        if (await DataSocketForAsync(ns, cancellationToken) is { } data)
        {
            try
            {
                return await data.GetAsync(ns.ToRef(), keys, destination, _options.CallTimeout, cancellationToken);
            }
            catch (Exception e) when (DataSocketFallback(ns, e))
            {
            }
        }
        var request = new BatchGetRequest { Namespace = ns.ToRef(), MaxFrameBytes = (uint)_options.FrameBytes };
        foreach (var key in keys) request.Keys.Add(ByteString.CopyFrom(key.Span));
        var results = new FillResult?[keys.Count];
        var targets = new Memory<byte>?[keys.Count];
        var filled = new long[keys.Count];
        var meta = new GetFrame?[keys.Count];

        using var call = Kv.BatchGet(request, Call(cancellationToken));
        await foreach (var frame in call.ResponseStream.ReadAllAsync(cancellationToken))
        {
            int i = checked((int)frame.Index);
            if (frame.First)
            {
                meta[i] = frame;
                if (frame.Code != 0)
                {
                    results[i] = new FillResult(i, (StatusCode)frame.Code, frame.Message, Tier.None, 0);
                    continue;
                }
                targets[i] = destination(i, (long)frame.TotalLength);
            }
            else if (frame.Code != 0)
            {
                // The node lost the value while sending it: what arrived is not a value.
                results[i] = new FillResult(i, (StatusCode)frame.Code, frame.Message, Tier.None, 0);
                continue;
            }
            if (meta[i] is not { } first || results[i] is not null) throw new InvalidOperationException($"data frame for item {i} without an open item");
            if (filled[i] + frame.Data.Length > (long)first.TotalLength) throw new InvalidOperationException($"item {i}: more bytes than its total_length {first.TotalLength}");
            if (targets[i] is { } target) frame.Data.Span.CopyTo(target.Span[checked((int)filled[i])..]);
            filled[i] += frame.Data.Length;
            if (filled[i] == (long)first.TotalLength) results[i] = new FillResult(i, StatusCode.OK, "", first.Tier, filled[i]);
        }
        for (int i = 0; i < results.Length; i++)
            results[i] ??= new FillResult(i, StatusCode.Internal, "the node ended the stream before this item was complete", Tier.None, 0);
        return results.Select(r => r!.Value).ToList();
    }

    /// <summary>Where each key lives (Tier.None for a miss).</summary>
    public async Task<IReadOnlyList<Tier>> ExistsAsync(KvNamespace ns, IReadOnlyList<ReadOnlyMemory<byte>> keys, CancellationToken cancellationToken = default)
    {
        var response = await Kv.ExistsAsync(Keys(ns, keys), Call(cancellationToken));
        return response.Tiers.ToList();
    }

    /// <summary>Removes each key; false where it was not there.</summary>
    public async Task<IReadOnlyList<bool>> DeleteAsync(KvNamespace ns, IReadOnlyList<ReadOnlyMemory<byte>> keys, CancellationToken cancellationToken = default)
    {
        var response = await Kv.DeleteAsync(Keys(ns, keys), Call(cancellationToken));
        return response.Deleted.ToList();
    }

    /// <summary>The longest cached prefix of <paramref name="keys"/> (block 0 first), optionally pinned for <paramref name="pin"/>.</summary>
    public async Task<LookupResult> LookupAsync(KvNamespace ns, IReadOnlyList<ReadOnlyMemory<byte>> keys, TimeSpan? pin = null, CancellationToken cancellationToken = default)
    {
        var request = new LookupRequest { Namespace = ns.ToRef(), PinTtlMs = pin is { } p ? (uint)Math.Ceiling(p.TotalMilliseconds) : 0 };
        foreach (var key in keys) request.Keys.Add(ByteString.CopyFrom(key.Span));
        var response = await Kv.LookupAsync(request, Call(cancellationToken));
        return new LookupResult((int)response.PrefixLength, response.Tiers.ToList(),
            response.PinnedUntilUnixMs == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds((long)response.PinnedUntilUnixMs));
    }

    public async Task<NodeInfo> GetInfoAsync(CancellationToken cancellationToken = default)
        => await Node.GetInfoAsync(new GetInfoRequest(), Call(cancellationToken));

    public async Task<NodeStats> GetStatsAsync(CancellationToken cancellationToken = default)
        => await Node.GetStatsAsync(new GetStatsRequest(), Call(cancellationToken));

    /// <summary>Drains the node (node.proto, Drain); <paramref name="timeout"/> replaces the call timeout, as a drain waits for writes in flight.</summary>
    public async Task<DrainResponse> DrainAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
        => await Node.DrainAsync(new DrainRequest(), new CallOptions(deadline: DateTime.UtcNow + (timeout ?? _options.CallTimeout), cancellationToken: cancellationToken));

    private static KeysRequest Keys(KvNamespace ns, IReadOnlyList<ReadOnlyMemory<byte>> keys)
    {
        var request = new KeysRequest { Namespace = ns.ToRef() };
        foreach (var key in keys) request.Keys.Add(ByteString.CopyFrom(key.Span));
        return request;
    }

    /// <summary>The data socket the node serves (found once, via GetInfo), or null where gRPC must carry the call.</summary>
    private ValueTask<DataSocketClient?> DataSocketForAsync(KvNamespace ns, CancellationToken ct)
        => _grpcOnlyStores.ContainsKey(ns.Store) ? ValueTask.FromResult<DataSocketClient?>(null) : DataSocketAsync(ct);

    /// <summary>The node's data socket, or null where gRPC must carry the call (also for the files client).</summary>
    internal async ValueTask<DataSocketClient?> DataSocketAsync(CancellationToken ct)
    {
        if (!_options.UseDataSocket || !Endpoint.IsUnixSocket) return null;
        if (_data is { } known) return Environment.TickCount64 >= Volatile.Read(ref _dataRetryAt) ? known : null;
        if (Environment.TickCount64 < Volatile.Read(ref _dataRetryAt)) return null;
        await _dataLookup.WaitAsync(ct);
        try
        {
            if (_data is not null || Environment.TickCount64 < _dataRetryAt) return _data;
            var path = _options.DataSocketPath;
            if (string.IsNullOrEmpty(path))
            {
                var reported = (await GetInfoAsync(ct)).DataSocket;
                // A node in another container may report a path that differs here: then look beside its gRPC socket.
                path = File.Exists(reported) ? reported : DataSocketPaths.Beside(Endpoint.UnixSocketPath!);
                if (string.IsNullOrEmpty(reported) || !File.Exists(path)) path = null;
            }
            if (path is null)
            {
                // This node serves no data socket; ask again later in case it is restarted with one.
                Volatile.Write(ref _dataRetryAt, Environment.TickCount64 + (long)DataSocketRetry.TotalMilliseconds);
                return null;
            }
            _data = new DataSocketClient(path, _options.MaxIdleDataConnections);
            return _data;
        }
        catch (RpcException)
        {
            Volatile.Write(ref _dataRetryAt, Environment.TickCount64 + (long)DataSocketRetry.TotalMilliseconds);
            return null;
        }
        finally
        {
            _dataLookup.Release();
        }
    }

    private static readonly TimeSpan DataSocketRetry = TimeSpan.FromSeconds(2);

    /// <summary>Whether a data-socket failure sends the call to gRPC: a broken socket (for a while) or a store served only there.</summary>
    private bool DataSocketFallback(KvNamespace ns, Exception e)
    {
        if (DataSocketBroke(e)) return true;
        if (e is RpcException { StatusCode: StatusCode.FailedPrecondition })
        {
            _grpcOnlyStores[ns.Store] = true;
            return true;
        }
        return false;
    }

    /// <summary>Whether <paramref name="e"/> says the data socket broke; then calls go over gRPC for a few seconds.</summary>
    internal bool DataSocketBroke(Exception e)
    {
        if (e is not DataSocketUnavailableException) return false;
        Volatile.Write(ref _dataRetryAt, Environment.TickCount64 + (long)DataSocketRetry.TotalMilliseconds);
        return true;
    }

    public void Dispose()
    {
        _data?.Dispose();
        _dataLookup.Dispose();
        _channel.Dispose();
    }
}
