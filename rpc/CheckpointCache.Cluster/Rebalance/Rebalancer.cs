using CheckpointCache.Cluster.Membership;
using CheckpointCache.Cluster.Options;
using CheckpointCache.Cluster.Peers;
using CheckpointCache.Cluster.Placement;
using CheckpointCache.Cluster.Replication;
using CheckpointCache.Engine;
using CheckpointCache.Rpc.Peer.V1;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Cluster.Rebalance;

/// <summary>
/// Moves copies after the member list changed, in the background and under a bandwidth cap. A pass
/// compares each held key's owners under the last view this node settled with its owners under the new
/// view, and only keys whose owner set changed are looked at (about replicas/N of them on a join or a
/// leave); a node that just started looks at everything it holds. For each such key it asks the owners
/// (Has, batched, no data) who holds it, then:
/// - the highest-ranked owner that holds it sends it to the owners that lack it (a survivor restores the
///   replica count after a failure; a returning or joining node is filled by its peers);
/// - a node that no longer owns a key sends it only when no owner has it, and drops its copy once every
///   owner holds it.
/// Keys a pass could not settle (an owner unreachable, a copy not yet confirmed) are retried on their own
/// until they are settled or the view changes again.
/// </summary>
internal sealed class Rebalancer : IAsyncDisposable
{
    private const int HasBatch = 512;
    private const int SendBatch = 64;

    private readonly ICacheEngine _engine;
    private readonly ClusterOptions _options;
    private readonly Func<MemberView> _view;
    private readonly string _selfId;
    private readonly PeerClients _peers;
    private readonly CopySender _sender;
    private readonly ByteRateLimiter _limiter;
    private readonly ClusterCounters _counters;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _signal = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<string, MemberView> _settled = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<byte[]>> _pending = new(StringComparer.Ordinal);
    private Task? _loop;

    public Rebalancer(ICacheEngine engine, ClusterOptions options, Func<MemberView> view, string selfId, PeerClients peers,
        CopySender sender, ClusterCounters counters, ILogger logger)
    {
        _engine = engine;
        _options = options;
        _view = view;
        _selfId = selfId;
        _peers = peers;
        _sender = sender;
        _limiter = new ByteRateLimiter(options.RebalanceBytesPerSecond.Bytes);
        _counters = counters;
        _logger = logger;
    }

    /// <summary>The rebalance bandwidth cap, shared by keys and files.</summary>
    public ByteRateLimiter Limiter => _limiter;

    /// <summary>The files part of each pass; null while no files store is replicated.</summary>
    public FileRebalancer? Files { get; set; }

    /// <summary>The view of the last pass that left nothing pending (every key at its owners as far as this node can tell).</summary>
    public MemberView SettledView { get; private set; } = MemberView.Empty;

    public void Start() => _loop = Task.Run(RunAsync);

    /// <summary>The member list changed (or the node started): a pass runs soon.</summary>
    public void Trigger() => _signal.Release();

    private async Task RunAsync()
    {
        var ct = _stop.Token;
        try
        {
            while (true)
            {
                await _signal.WaitAsync(ct).ConfigureAwait(false);
                // Coalesce a burst of changes (a rack going down) into one pass.
                await Task.Delay(_options.RebalanceDelay, ct).ConfigureAwait(false);
                while (_signal.CurrentCount > 0) await _signal.WaitAsync(ct).ConfigureAwait(false);
                long pending;
                do
                {
                    var view = _view();
                    try
                    {
                        pending = await PassAsync(view, ct).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                    {
                        _logger.LogWarning(e, "Rebalance pass over {View} failed; retrying", view);
                        pending = 1;
                    }
                    if (pending > 0 && _signal.CurrentCount == 0) await Task.Delay(_options.RebalanceRetryDelay, ct).ConfigureAwait(false);
                } while (pending > 0 && _signal.CurrentCount == 0);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
    }

    /// <summary>One pass over every hashed store; returns the keys left unsettled.</summary>
    internal async Task<long> PassAsync(MemberView view, CancellationToken ct)
    {
        if (view.Find(_selfId) is null) { _counters.PassDone(0); return 0; } // not (yet) a member: nothing is owned
        long pending = 0;
        foreach (var (storeName, placement) in _options.Stores)
        {
            if (!placement.IsHashed || !_engine.TryGetNamespace(storeName, out var store) || store is null || store.Kind == NamespaceKind.Files) continue;
            var settled = _settled.GetValueOrDefault(storeName, MemberView.Empty);
            List<byte[]> candidates;
            lock (_pending)
            {
                candidates = _pending.Remove(storeName, out var carried) ? carried : [];
            }
            if (!settled.SameMembersAs(view))
            {
                // Only keys whose owner set differs between the settled view and this one; everything after a start.
                await foreach (var key in store.ScanKeysAsync(ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false))
                {
                    var owners = RendezvousPlacement.Owners(key, view, placement.Replicas, _options.FailureDomainLabel);
                    if (settled.Count == 0 || !owners.Any(o => o.Id == _selfId)
                        || !SameIds(owners, RendezvousPlacement.Owners(key, settled, placement.Replicas, _options.FailureDomainLabel)))
                        candidates.Add(key);
                }
            }
            candidates = candidates.DistinctBy(Convert.ToHexString).ToList();
            var left = await SettleAsync(store, placement.Replicas, view, candidates, ct).ConfigureAwait(false);
            // The diff against the old view is taken; what could not be settled is carried as explicit keys.
            _settled[storeName] = view;
            if (left.Count > 0)
            {
                lock (_pending)
                {
                    if (_pending.TryGetValue(storeName, out var added)) left.AddRange(added);
                    _pending[storeName] = left;
                }
            }
            pending += left.Count;
            if (candidates.Count > 0)
                _logger.LogInformation("Rebalance of {Store} over {View}: {Checked} keys looked at, {Left} left for a retry", storeName, view, candidates.Count, left.Count);
        }
        if (Files is not null) pending += await Files.PassAsync(view, ct).ConfigureAwait(false);
        SettledView = pending == 0 ? view : MemberView.Empty;
        _counters.PassDone(pending);
        return pending;
    }

    /// <summary>
    /// A leaving node's last pass, with the background loop stopped: every held key of a hashed store whose owners
    /// under <paramref name="others"/> (this node excluded) all lack it is sent to them. Copies are not dropped.
    /// Returns the keys sent.
    /// </summary>
    internal async Task<long> HandOffAsync(MemberView others, CancellationToken ct)
    {
        long sent = 0;
        foreach (var (storeName, placement) in _options.Stores)
        {
            if (!placement.IsHashed || !_engine.TryGetNamespace(storeName, out var store) || store is null || store.Kind == NamespaceKind.Files) continue;
            var keys = new List<byte[]>();
            await foreach (var key in store.ScanKeysAsync(ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false)) keys.Add(key);
            long before = _counters.RebalanceKeysSent;
            var left = await SettleAsync(store, placement.Replicas, others, keys, ct, dropCopies: false).ConfigureAwait(false);
            sent += _counters.RebalanceKeysSent - before;
            if (left.Count > 0) _logger.LogInformation("Hand-off of {Store}: {Count} keys not confirmed at their owners", storeName, left.Count);
        }
        return sent;
    }

    /// <summary>A key that needs a look without a membership change (a write that could not reach all its owners).</summary>
    public void Enqueue(string store, byte[] key)
    {
        lock (_pending)
        {
            if (!_pending.TryGetValue(store, out var keys)) _pending[store] = keys = [];
            keys.Add(key);
        }
        Trigger();
    }

    private static bool SameIds(IReadOnlyList<Member> a, IReadOnlyList<Member> b)
        => a.Count == b.Count && a.All(x => b.Any(y => y.Id == x.Id));

    /// <summary>Brings each candidate to its owners; returns the keys that are not settled yet.</summary>
    private async Task<List<byte[]>> SettleAsync(ICacheNamespace store, int replicas, MemberView view, List<byte[]> candidates, CancellationToken ct, bool dropCopies = true)
    {
        var left = new List<byte[]>();
        if (candidates.Count == 0) return left;
        _counters.Checked(candidates.Count);
        var owners = candidates.Select(k => RendezvousPlacement.Owners(k, view, replicas, _options.FailureDomainLabel)).ToList();

        // Who holds what: one batched Has per owner, no data moved.
        var held = new Dictionary<(int Key, string Member), bool>();
        var unreachable = new HashSet<string>(StringComparer.Ordinal);
        foreach (var group in Enumerable.Range(0, candidates.Count).SelectMany(i => owners[i].Where(o => o.Id != _selfId).Select(o => (i, o))).GroupBy(x => x.o.Id))
        {
            var member = group.First().o;
            foreach (var chunk in group.Chunk(HasBatch))
            {
                try
                {
                    var request = new PeerKeysRequest { Store = store.Name };
                    request.Keys.AddRange(chunk.Select(x => ByteString.CopyFrom(candidates[x.i])));
                    var answer = await _peers.For(member.PeerEndpoint).HasAsync(request, _peers.Call(ct)).ConfigureAwait(false);
                    for (int j = 0; j < chunk.Length; j++) held[(chunk[j].i, member.Id)] = answer.Held[j];
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    unreachable.Add(member.Id);
                    _logger.LogInformation("Rebalance: {Member} did not answer Has ({Reason}); its keys are retried", member.Id, e.Message);
                }
            }
        }

        var sends = new Dictionary<string, (Member Member, List<int> Keys)>(StringComparer.Ordinal);
        var drops = new List<int>();
        for (int i = 0; i < candidates.Count; i++)
        {
            var o = owners[i];
            bool selfOwner = o.Any(m => m.Id == _selfId);
            if (o.Any(m => unreachable.Contains(m.Id))) { left.Add(candidates[i]); continue; }
            var lacking = o.Where(m => m.Id != _selfId && !held.GetValueOrDefault((i, m.Id))).ToList();
            if (lacking.Count == 0)
            {
                if (!selfOwner && dropCopies) drops.Add(i);
                continue;
            }
            // One sender per key where possible: the best-ranked owner that holds it; non-owners only when no owner does.
            var holdingOwner = o.FirstOrDefault(m => m.Id == _selfId || held.GetValueOrDefault((i, m.Id)));
            bool mine = selfOwner ? holdingOwner?.Id == _selfId : holdingOwner is null;
            if (!mine)
            {
                if (!selfOwner) left.Add(candidates[i]); // wait for the owner that holds it, then drop
                continue;
            }
            foreach (var m in lacking)
            {
                if (!sends.TryGetValue(m.Id, out var s)) sends[m.Id] = s = (m, []);
                s.Keys.Add(i);
            }
            if (!selfOwner) left.Add(candidates[i]); // dropped on a later pass, once every owner confirms
        }

        foreach (var (member, keys) in sends.Values)
        {
            foreach (var batch in keys.Chunk(SendBatch))
            {
                try
                {
                    var ok = await _sender.SendAsync(store, member.PeerEndpoint, batch.Select(i => candidates[i]).ToList(), ReplicateReason.Rebalance, _limiter, ct).ConfigureAwait(false);
                    for (int j = 0; j < batch.Length; j++)
                        if (!ok[j] && owners[batch[j]].Any(m => m.Id == _selfId)) left.Add(candidates[batch[j]]);
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    _logger.LogInformation("Rebalance: sending {Count} keys to {Member} failed ({Reason}); retried", batch.Length, member.Id, e.Message);
                    foreach (var i in batch)
                        if (owners[i].Any(m => m.Id == _selfId)) left.Add(candidates[i]);
                }
            }
        }

        foreach (var i in drops)
        {
            if (await store.DeleteAsync(candidates[i], ct).ConfigureAwait(false)) _counters.Dropped();
        }
        return left.Distinct(ByteArrayIdentity.Instance).ToList();
    }

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        if (_loop is not null)
        {
            try { await _loop.ConfigureAwait(false); } catch (OperationCanceledException) { }
        }
        _stop.Dispose();
    }

    private sealed class ByteArrayIdentity : IEqualityComparer<byte[]>
    {
        public static readonly ByteArrayIdentity Instance = new();
        public bool Equals(byte[]? x, byte[]? y) => ReferenceEquals(x, y);
        public int GetHashCode(byte[] obj) => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj);
    }
}
