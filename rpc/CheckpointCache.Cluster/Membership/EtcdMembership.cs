using System.Text;
using CheckpointCache.Cluster.Options;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Cluster.Membership;

/// <summary>
/// Membership through etcd. The node puts its member record under a lease and keeps the lease alive with
/// one message every TTL/KeepAlivesPerTtl on one long-lived stream; it lists the member prefix once and then
/// follows it with one watch from the listed revision. Steady state is therefore a constant number of
/// requests per node per second whatever the cluster size, and no request is ever made per key.
/// When etcd is unreachable the node keeps its last view and reconnects with jittered backoff, reusing its
/// lease when etcd still has it; a lost lease (the node was paused or cut off past its TTL) is replaced by a
/// new one and the record is put again, which the other members see as a rejoin.
/// </summary>
public sealed class EtcdMembership : IMembership
{
    private readonly EtcdOptions _options;
    private readonly EtcdRequestCounter _counter;
    private readonly ILogger _logger;
    private readonly IReadOnlyList<string> _endpoints;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _firstView = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<string, Member> _members = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private Task? _loop;
    private Member? _self;
    private long _leaseId;
    private int _endpoint;
    private GrpcChannel? _channel;
    private CallInvoker? _invoker;

    public EtcdMembership(EtcdOptions options, EtcdRequestCounter counter, ILogger<EtcdMembership> logger)
    {
        _options = options;
        _counter = counter;
        _logger = logger;
        _endpoints = options.EndpointList();
    }

    public MemberView Current { get; private set; } = MemberView.Empty;

    public event Action<MemberView>? Changed;

    /// <summary>Times this node registered (a new lease and a put of its record): 1 plus the rejoins.</summary>
    public int Registrations { get; private set; }

    private string MembersPrefix => _options.Prefix + "members/";
    private string SelfKey => MembersPrefix + _self!.Id;

    public async Task StartAsync(Member self, CancellationToken cancellationToken)
    {
        _self = self;
        _loop = Task.Run(RunAsync);
        await _firstView.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task RunAsync()
    {
        var backoff = _options.MinBackoff;
        while (!_stop.IsCancellationRequested)
        {
            using var session = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            try
            {
                await SessionAsync(session.Token).ConfigureAwait(false);
                backoff = _options.MinBackoff;
            }
            catch (Exception e) when (!_stop.IsCancellationRequested)
            {
                _logger.LogWarning("etcd session on {Endpoint} ended: {Reason}; keeping the last view ({View}) and retrying in {BackoffMs} ms",
                    _endpoints[_endpoint], e is RpcException r ? $"{r.StatusCode}: {r.Status.Detail}" : e.Message, Current, (int)backoff.TotalMilliseconds);
                ResetChannel();
                _endpoint = (_endpoint + 1) % _endpoints.Count;
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                break; // leaving: the session's calls were cancelled on purpose
            }
            finally
            {
                session.Cancel();
            }
            if (_stop.IsCancellationRequested) break;
            try
            {
                // Jittered so a restarted etcd is not met by every node at the same instant.
                await Task.Delay(backoff * (0.5 + Random.Shared.NextDouble()), _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) { break; }
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.MaxBackoff.Ticks));
        }
    }

    private CallInvoker Invoker()
    {
        if (_invoker is not null) return _invoker;
        _channel = GrpcChannel.ForAddress(_endpoints[_endpoint], new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                // A dead etcd must be noticed on an idle stream too.
                KeepAlivePingDelay = TimeSpan.FromSeconds(5),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
                ConnectTimeout = _options.CallTimeout,
            },
            // A page of member records, or a burst of watch events after a mass restart, exceeds gRPC's 4 MiB default.
            MaxReceiveMessageSize = 64 * 1024 * 1024,
        });
        _invoker = _channel.Intercept(_counter);
        return _invoker;
    }

    private void ResetChannel()
    {
        _channel?.Dispose();
        _channel = null;
        _invoker = null;
    }

    private DateTime Deadline => DateTime.UtcNow + _options.CallTimeout;

    private async Task SessionAsync(CancellationToken ct)
    {
        var invoker = Invoker();
        var etcd = new EtcdClient(invoker);
        using var keepAlive = new Lease.LeaseClient(invoker).LeaseKeepAlive(cancellationToken: ct);
        long ttlSeconds = Math.Max(2, (long)Math.Ceiling(_options.LeaseTtl.TotalSeconds));

        if (_leaseId != 0 && !await LeaseAliveAsync(keepAlive, ct).ConfigureAwait(false))
        {
            _logger.LogWarning("Lease {LeaseId} expired while this node was away; registering again", _leaseId);
            _leaseId = 0;
        }
        if (_leaseId == 0)
        {
            var grant = await etcd.LeaseGrantAsync(new LeaseGrantRequest { TTL = ttlSeconds }, deadline: Deadline, cancellationToken: ct).ConfigureAwait(false);
            await etcd.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(SelfKey), Value = ByteString.CopyFromUtf8(MemberRecord.Serialize(_self!)), Lease = grant.ID },
                deadline: Deadline, cancellationToken: ct).ConfigureAwait(false);
            _leaseId = grant.ID;
            Registrations++;
            _logger.LogInformation("Registered as member {MemberId} at {Peer} under lease {LeaseId} (TTL {Ttl} s) on {Endpoint}",
                _self!.Id, _self.PeerEndpoint, grant.ID, grant.TTL, _endpoints[_endpoint]);
        }

        long revision = await ListAsync(etcd, ct).ConfigureAwait(false);
        Publish(revision);
        _firstView.TrySetResult();

        using var watch = new Etcdserverpb.Watch.WatchClient(invoker).Watch(cancellationToken: ct);
        await watch.RequestStream.WriteAsync(new WatchRequest
        {
            CreateRequest = new WatchCreateRequest
            {
                Key = ByteString.CopyFromUtf8(MembersPrefix),
                RangeEnd = ByteString.CopyFrom(PrefixEnd(Encoding.UTF8.GetBytes(MembersPrefix))),
                StartRevision = revision + 1,
            },
        }).ConfigureAwait(false);

        using var streams = CancellationTokenSource.CreateLinkedTokenSource(ct);
        long lease = _leaseId;
        var watching = FollowAsync(watch.ResponseStream, lease, streams.Token);
        var keeping = KeepAliveAsync(keepAlive, lease, streams.Token);
        // Whichever ends first (etcd gone, lease lost, watch cancelled) ends the session; the loop starts a new one.
        var first = await Task.WhenAny(watching, keeping).ConfigureAwait(false);
        // Both streams are stopped before a new session starts, so nothing of this one acts on the next one's state.
        streams.Cancel();
        try { await Task.WhenAll(watching, keeping).ConfigureAwait(false); }
        catch (Exception) when (first.IsFaulted || streams.IsCancellationRequested) { }
        await first.ConfigureAwait(false);
        throw new InvalidOperationException("etcd closed a stream");
    }

    /// <summary>
    /// Lists the members in pages of <see cref="EtcdOptions.ListPageSize"/>, all at the revision of the first page,
    /// so a 100,000-member list is neither one huge response nor a mix of two moments. Returns that revision.
    /// </summary>
    private async Task<long> ListAsync(EtcdClient etcd, CancellationToken ct)
    {
        var members = new Dictionary<string, Member>(StringComparer.Ordinal);
        var prefix = Encoding.UTF8.GetBytes(MembersPrefix);
        var end = ByteString.CopyFrom(PrefixEnd(prefix));
        var from = ByteString.CopyFrom(prefix);
        long revision = 0;
        while (true)
        {
            var page = await etcd.GetAsync(new RangeRequest { Key = from, RangeEnd = end, Limit = _options.ListPageSize, Revision = revision },
                deadline: Deadline, cancellationToken: ct).ConfigureAwait(false);
            if (revision == 0) revision = page.Header.Revision;
            foreach (var kv in page.Kvs)
                if (MemberRecord.TryParse(kv.Value.Span) is { } m) members[m.Id] = m;
            if (!page.More || page.Kvs.Count == 0) break;
            // The next page starts just after the last key of this one.
            from = ByteString.CopyFrom([.. page.Kvs[^1].Key.Span, 0]);
        }
        lock (_gate)
        {
            _members.Clear();
            foreach (var (id, m) in members) _members[id] = m;
        }
        return revision;
    }

    private async Task<bool> LeaseAliveAsync(AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> stream, CancellationToken ct)
    {
        await stream.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = _leaseId }).ConfigureAwait(false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.CallTimeout);
        if (!await stream.ResponseStream.MoveNext(timeout.Token).ConfigureAwait(false)) throw new InvalidOperationException("keep-alive stream closed");
        return stream.ResponseStream.Current.TTL > 0;
    }

    private async Task KeepAliveAsync(AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> stream, long lease, CancellationToken ct)
    {
        var period = _options.LeaseTtl / _options.KeepAlivesPerTtl;
        using var session = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var reader = Task.Run(async () =>
        {
            while (await stream.ResponseStream.MoveNext(session.Token).ConfigureAwait(false))
            {
                if (stream.ResponseStream.Current.TTL <= 0)
                {
                    Interlocked.CompareExchange(ref _leaseId, 0, lease); // gone: the next session registers again
                    throw new InvalidOperationException("etcd says the lease has expired");
                }
            }
            throw new InvalidOperationException("keep-alive stream closed");
        }, session.Token);
        using var timer = new PeriodicTimer(period);
        try
        {
            while (true)
            {
                var tick = timer.WaitForNextTickAsync(session.Token).AsTask();
                if (await Task.WhenAny(tick, reader).ConfigureAwait(false) == reader) await reader.ConfigureAwait(false);
                await tick.ConfigureAwait(false);
                await stream.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = lease }).ConfigureAwait(false);
            }
        }
        finally
        {
            session.Cancel();
        }
    }

    private async Task FollowAsync(IAsyncStreamReader<WatchResponse> responses, long lease, CancellationToken ct)
    {
        while (await responses.MoveNext(ct).ConfigureAwait(false))
        {
            var r = responses.Current;
            if (r.CompactRevision > 0 || r.Canceled)
                throw new InvalidOperationException($"watch cancelled (compacted at {r.CompactRevision}: {r.CancelReason}); listing again");
            if (r.Events.Count == 0) continue;
            bool selfDeleted = false;
            lock (_gate)
            {
                // An event read just as the session ended belongs to the old session; the next one lists afresh.
                if (ct.IsCancellationRequested) return;
                foreach (var e in r.Events)
                {
                    var id = e.Kv.Key.ToStringUtf8()[MembersPrefix.Length..];
                    if (e.Type == Mvccpb.Event.Types.EventType.Delete)
                    {
                        _members.Remove(id);
                        if (id == _self!.Id) selfDeleted = true;
                    }
                    else if (MemberRecord.TryParse(e.Kv.Value.Span) is { } m)
                    {
                        _members[m.Id] = m;
                    }
                }
            }
            Publish(r.Header.Revision);
            if (selfDeleted)
            {
                // The lease expired (this node was paused or cut off) or someone removed the record.
                Interlocked.CompareExchange(ref _leaseId, 0, lease);
                throw new InvalidOperationException("this node's member record was deleted");
            }
        }
        throw new InvalidOperationException("watch stream closed");
    }

    private void Publish(long revision)
    {
        MemberView view;
        lock (_gate) view = new MemberView(revision, _members.Values);
        var previous = Current;
        Current = view;
        if (!view.SameMembersAs(previous))
        {
            _logger.LogInformation("Members now {View}", view);
            Changed?.Invoke(view);
        }
    }

    /// <summary>The range end that covers every key starting with <paramref name="prefix"/> (etcd's convention).</summary>
    internal static byte[] PrefixEnd(byte[] prefix)
    {
        var end = (byte[])prefix.Clone();
        for (int i = end.Length - 1; i >= 0; i--)
        {
            if (end[i] < 0xFF)
            {
                end[i]++;
                return end[..(i + 1)];
            }
        }
        return [0];
    }

    private int _disposed;
    private bool _crashed;

    /// <summary>Whether disposing revoked the lease, so the member record is gone from etcd.</summary>
    public bool Left { get; private set; }

    /// <summary>Stops as a crashed node would: no revoke, so the others only notice when the lease expires (scale study, tests).</summary>
    internal ValueTask CrashAsync()
    {
        _crashed = true;
        return DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        if (_loop is not null)
        {
            try { await _loop.ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
        if (_leaseId != 0 && !_crashed)
        {
            try
            {
                // Leaving cleanly: the others see the record go now rather than after the TTL.
                var etcd = new EtcdClient(Invoker());
                await etcd.LeaseRevokeAsync(new LeaseRevokeRequest { ID = _leaseId }, deadline: Deadline).ConfigureAwait(false);
                _logger.LogInformation("Left the cluster (lease {LeaseId} revoked)", _leaseId);
                Left = true;
            }
            catch (Exception e)
            {
                _logger.LogWarning("Could not revoke lease {LeaseId} ({Reason}); the others see this node leave after the TTL", _leaseId, e.Message);
            }
        }
        ResetChannel();
        _stop.Dispose();
    }
}
