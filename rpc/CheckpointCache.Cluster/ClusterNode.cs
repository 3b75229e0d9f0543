using CheckpointCache.Cluster.Membership;
using CheckpointCache.Cluster.Options;
using CheckpointCache.Cluster.Peers;
using CheckpointCache.Cluster.Placement;
using CheckpointCache.Cluster.Rebalance;
using CheckpointCache.Cluster.Replication;
using CheckpointCache.Engine;
using CheckpointCache.Engine.Files;
using CheckpointCache.Rpc.Peer.V1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Cluster;

/// <summary>
/// This node's part in the cluster: membership, placement of hashed stores, write replication, reads from
/// owners, deletes on every owner, and background rebalancing. With Cluster:Enabled false it is inert:
/// every store is local and nothing leaves the machine.
/// </summary>
public sealed class ClusterNode : IAsyncDisposable
{
    private readonly ClusterOptions _options;
    private readonly ICacheEngine _engine;
    private readonly ILogger _logger;
    private readonly IMembership? _membership;
    private readonly PeerClients _peers;
    private readonly CopySender _sender;
    private readonly Rebalancer? _rebalancer;
    private readonly ILoggerFactory _loggerFactory;

    public ClusterNode(ClusterOptions options, ICacheEngine engine, string nodeId, ILoggerFactory loggerFactory)
    {
        _options = options;
        _engine = engine;
        SelfId = nodeId;
        _logger = loggerFactory.CreateLogger("CheckpointCache.Cluster");
        Token = new PeerToken(PeerTokenLoader.Load(options));
        _peers = new PeerClients(Token, options.PeerCallTimeout);
        _sender = new CopySender(_peers, Counters, nodeId);
        _loggerFactory = loggerFactory;
        if (!options.Enabled) return;
        _membership = options.Membership == MembershipKind.Static
            ? new StaticMembership(options.StaticMembers)
            : new EtcdMembership(options.Etcd, EtcdRequests, loggerFactory.CreateLogger<EtcdMembership>());
        _rebalancer = new Rebalancer(engine, options, () => View, nodeId, _peers, _sender, Counters, loggerFactory.CreateLogger("CheckpointCache.Cluster.Rebalance"));
    }

    /// <summary>Members after the owners in a key's ranking that take a write's copy when an owner does not answer, and that reads and deletes also try.</summary>
    public const int FallbackMembers = 2;

    public bool Enabled => _options.Enabled;
    public string SelfId { get; }
    public PeerToken Token { get; }
    public ClusterOptions Options => _options;
    public ClusterCounters Counters { get; } = new();
    public EtcdRequestCounter EtcdRequests { get; } = new();
    public IMembership? Membership => _membership;
    public MemberView View => _membership?.Current ?? MemberView.Empty;
    public string? PeerEndpoint { get; private set; }

    /// <summary>The files stores this node replicates (none with the cluster off).</summary>
    public ReplicatedFileStores FileStores { get; } = new();

    /// <summary>
    /// Makes the hashed files stores among <paramref name="trees"/> replicated: their commits, renames and deletes
    /// reach the other holders, their misses read from them, and rebalancing looks after their files. Called once,
    /// before the node serves calls; does nothing with the cluster off.
    /// </summary>
    public void AttachFiles(IEnumerable<FileTree> trees)
    {
        if (_rebalancer is null) return;
        var logger = _loggerFactory.CreateLogger("CheckpointCache.Cluster.Files");
        var sender = new FileCopySender(_peers, Counters, SelfId, logger);
        var replicator = new FileReplicator(_options, () => View, SelfId, _peers, sender, Counters, _rebalancer.Trigger, logger);
        foreach (var tree in trees.Where(t => IsHashed(t.NamespaceName)))
        {
            tree.AttachReplicator(replicator);
            FileStores.Add(tree);
        }
        if (FileStores.Trees.Count > 0)
            _rebalancer.Files = new FileRebalancer(FileStores, _options, SelfId, _peers, sender, _rebalancer.Limiter, Counters, _loggerFactory.CreateLogger("CheckpointCache.Cluster.Rebalance"));
    }

    /// <summary>Version of the last view for which a rebalance pass left nothing pending (0: none).</summary>
    public long RebalanceSettledVersion => _rebalancer?.SettledView.Version ?? 0;

    /// <summary>Whether the last rebalance pass settled every key for the current member set.</summary>
    public bool RebalanceSettled => _rebalancer is { } r && r.SettledView.Count > 0 && r.SettledView.SameMembersAs(View) && Counters.RebalancePending == 0;

    /// <summary>Hashed placement applies only while the cluster is on.</summary>
    public bool IsHashed(string store) => Enabled && _options.PlacementOf(store).IsHashed;

    public int ReplicasOf(string store) => IsHashed(store) ? _options.PlacementOf(store).Replicas : 1;

    /// <summary>Joins the cluster, advertising <paramref name="peerEndpoint"/>; returns once the first member list is known.</summary>
    public async Task StartAsync(string peerEndpoint, CancellationToken cancellationToken)
    {
        if (_membership is null || _rebalancer is null) return;
        PeerEndpoint = peerEndpoint;
        _membership.Changed += _ => _rebalancer.Trigger();
        await _membership.StartAsync(new Member(SelfId, peerEndpoint, _options.Labels), cancellationToken).ConfigureAwait(false);
        _rebalancer.Start();
        _rebalancer.Trigger(); // a (re)started node checks everything it holds against the current owners
        _logger.LogInformation("Cluster member {MemberId} at {PeerEndpoint}; members {View}; hashed stores {Stores}", SelfId, peerEndpoint, View,
            string.Join(", ", _options.Stores.Where(s => s.Value.IsHashed).Select(s => $"{s.Key} (replicas {s.Value.Replicas})")));
    }

    public IReadOnlyList<Member> OwnersOf(string store, ReadOnlySpan<byte> key)
        => RendezvousPlacement.Owners(key, View, ReplicasOf(store), _options.FailureDomainLabel);

    /// <summary>
    /// After a value was published locally in a hashed store, copies it to its other owners, falling back to
    /// the next-ranked members when an owner does not answer. A node that is not an owner keeps its copy only
    /// while fewer than Replicas others hold it. Returns how many nodes hold the value now.
    /// </summary>
    public async Task<int> ReplicateWriteAsync(ICacheNamespace store, byte[] key, CancellationToken ct)
    {
        int wanted = ReplicasOf(store.Name);
        var view = View;
        if (!IsHashed(store.Name) || view.Count == 0) return 1;
        // The owners, then two fallbacks that take a copy when an owner does not answer.
        var ranking = RendezvousPlacement.Owners(key, view, wanted + FallbackMembers, _options.FailureDomainLabel);
        bool selfOwner = ranking.Take(wanted).Any(m => m.Id == SelfId);
        int remoteWanted = selfOwner ? wanted - 1 : wanted;
        // The key's ranking without this node: the first remoteWanted are the other owners, the rest fallbacks.
        var others = ranking.Where(m => m.Id != SelfId).ToList();
        int copies = 0, tried = 0;
        while (copies < remoteWanted && tried < others.Count)
        {
            var batch = others.Skip(tried).Take(remoteWanted - copies).ToList();
            tried += batch.Count;
            var results = await Task.WhenAll(batch.Select(m => SendOneAsync(store, m, key, ct))).ConfigureAwait(false);
            copies += results.Count(ok => ok);
        }
        bool keepLocal = selfOwner || copies < wanted;
        if (!keepLocal) await store.DeleteAsync(key, ct).ConfigureAwait(false);
        int total = copies + (keepLocal ? 1 : 0);
        if (total < wanted || tried > remoteWanted || !selfOwner && keepLocal)
        {
            if (total < wanted) Counters.UnderReplicated();
            _rebalancer?.Enqueue(store.Name, key); // brought home and topped up in the background
        }
        return Math.Min(total, wanted);
    }

    private async Task<bool> SendOneAsync(ICacheNamespace store, Member member, byte[] key, CancellationToken ct)
    {
        try
        {
            var ok = await _sender.SendAsync(store, member.PeerEndpoint, [key], ReplicateReason.Write, limiter: null, ct).ConfigureAwait(false);
            return ok[0];
        }
        catch (RpcException e) when (!ct.IsCancellationRequested)
        {
            _logger.LogWarning("Replicating a write in {Store} to {Member} failed: {Code} {Detail}", store.Name, member.Id, e.StatusCode, e.Status.Detail);
            return false;
        }
    }

    /// <summary>
    /// Opens a value that is not held here from its owners, best-ranked first (then the next two members, which
    /// hold it while a rebalance is under way). Null when no member has it; the cloud tier, once it exists, is
    /// asked after this (see <see cref="IBackingStore"/>).
    /// </summary>
    public async Task<RemoteValue?> OpenFromOwnersAsync(string store, byte[] key, CancellationToken ct)
    {
        if (!IsHashed(store)) return null;
        var candidates = RendezvousPlacement.Owners(key, View, ReplicasOf(store) + FallbackMembers, _options.FailureDomainLabel).Where(m => m.Id != SelfId);
        foreach (var member in candidates)
        {
            AsyncServerStreamingCall<FetchFrame>? call = null;
            try
            {
                var request = new FetchRequest { Store = store };
                request.Keys.Add(ByteString.CopyFrom(key));
                call = _peers.For(member.PeerEndpoint).Fetch(request, _peers.Call(ct));
                if (await call.ResponseStream.MoveNext(ct).ConfigureAwait(false) && call.ResponseStream.Current is { First: true, Code: 0 } first)
                {
                    Counters.RemoteRead(hit: true);
                    return new RemoteValue(call, first, member.Id);
                }
            }
            catch (RpcException e) when (!ct.IsCancellationRequested)
            {
                _logger.LogDebug("Read from owner {Member} failed: {Code}", member.Id, e.StatusCode);
            }
            call?.Dispose();
        }
        Counters.RemoteRead(hit: false);
        return null;
    }

    /// <summary>
    /// Removes keys from the other owners of a hashed store (and the next two members, which may hold them
    /// while a rebalance is under way), so rebalancing cannot bring them back. True per key some member removed.
    /// </summary>
    public async Task<IReadOnlyList<bool>> RemoveFromOwnersAsync(string store, IReadOnlyList<byte[]> keys, CancellationToken ct)
    {
        var removed = new bool[keys.Count];
        if (!IsHashed(store) || keys.Count == 0) return removed;
        var byMember = Enumerable.Range(0, keys.Count).SelectMany(i => RendezvousPlacement.Owners(keys[i], View, ReplicasOf(store) + FallbackMembers, _options.FailureDomainLabel)
            .Where(m => m.Id != SelfId).Select(m => (m, i))).GroupBy(x => x.m.Id);
        await Task.WhenAll(byMember.Select(async g =>
        {
            var items = g.ToList();
            var request = new PeerKeysRequest { Store = store };
            request.Keys.AddRange(items.Select(x => ByteString.CopyFrom(keys[x.i])));
            try
            {
                var answer = await _peers.For(items[0].m.PeerEndpoint).RemoveAsync(request, _peers.Call(ct)).ConfigureAwait(false);
                for (int j = 0; j < items.Count; j++)
                    if (answer.Removed[j]) removed[items[j].i] = true;
            }
            catch (RpcException e) when (!ct.IsCancellationRequested)
            {
                _logger.LogWarning("Removing {Count} keys of {Store} on {Member} failed: {Code}", items.Count, store, g.Key, e.StatusCode);
            }
        })).ConfigureAwait(false);
        return removed;
    }

    /// <summary>
    /// Leaves the cluster while the node keeps running (a drain): stops rebalancing, revokes the etcd lease so the
    /// others drop this member and re-replicate at once, then sends each hashed key that no owner under the
    /// remaining members holds to those owners. Local copies are kept (a node drained for an upgrade comes back
    /// with them). Returns whether the lease was revoked and how many keys were handed off.
    /// </summary>
    public async Task<(bool Left, long HandedOff)> LeaveAsync(CancellationToken ct)
    {
        if (_membership is null || _rebalancer is null) return (false, 0);
        var last = View;
        await _rebalancer.DisposeAsync().ConfigureAwait(false);
        await _membership.DisposeAsync().ConfigureAwait(false);
        bool left = _membership is not EtcdMembership etcd || etcd.Left;
        var others = new MemberView(last.Version, last.Members.Where(m => m.Id != SelfId));
        long handedOff = others.Count == 0 ? 0 : await _rebalancer.HandOffAsync(others, ct).ConfigureAwait(false);
        _logger.LogInformation("Left the cluster (lease revoked {Left}); {HandedOff} keys handed off to {View}", left, handedOff, others);
        return (left, handedOff);
    }

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        // The node leaves the cluster before its listeners stop; the service container disposes it again later.
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_rebalancer is not null) await _rebalancer.DisposeAsync().ConfigureAwait(false);
        if (_membership is not null) await _membership.DisposeAsync().ConfigureAwait(false);
        _peers.Dispose();
    }
}
