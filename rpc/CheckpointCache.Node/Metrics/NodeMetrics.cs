using CheckpointCache.Cluster;
using CheckpointCache.Engine;
using CheckpointCache.Node.Files;
using Prometheus;

namespace CheckpointCache.Node.Metrics;

/// <summary>
/// What the node exports to Prometheus. Request-path counters are kept here per store, declared
/// namespace and tier; the engine's own counters (evictions, corruption, space) are copied from its
/// stats at scrape time so there is one source of truth for them.
/// </summary>
public sealed class NodeMetrics
{
    private static readonly double[] LatencyBuckets = Histogram.ExponentialBuckets(0.000_05, 2, 18); // 50 us .. 6.5 s

    public CollectorRegistry Registry { get; } = Prometheus.Metrics.NewCustomRegistry();

    private readonly Counter _hits, _misses, _bytesRead, _bytesWritten, _puts, _itemErrors, _calls;
    private readonly Histogram _getSeconds, _putSeconds, _callSeconds;

    public NodeMetrics(ICacheEngine engine, NamespaceRegistry registry, DateTimeOffset startedAt, ClusterNode? cluster = null, FileTreeRegistry? files = null)
    {
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        string[] nsLabels = ["store", "namespace"];
        string[] nsTierLabels = ["store", "namespace", "tier"];
        _hits = f.CreateCounter("checkpointcache_kv_hits_total", "KV blocks found, by tier.", nsTierLabels);
        _misses = f.CreateCounter("checkpointcache_kv_misses_total", "KV blocks asked for and not found (absent, evicted or corrupt).", nsLabels);
        _bytesRead = f.CreateCounter("checkpointcache_kv_read_bytes_total", "Value bytes sent to clients, by tier.", nsTierLabels);
        _bytesWritten = f.CreateCounter("checkpointcache_kv_written_bytes_total", "Value bytes stored.", nsLabels);
        _puts = f.CreateCounter("checkpointcache_kv_puts_total", "KV blocks stored.", nsLabels);
        _itemErrors = f.CreateCounter("checkpointcache_kv_item_errors_total", "Items refused or failed, by operation and gRPC code.", "store", "op", "code");
        _calls = f.CreateCounter("checkpointcache_rpc_calls_total", "KV calls, by method and final gRPC code.", "method", "code");
        _getSeconds = f.CreateHistogram("checkpointcache_kv_get_seconds", "Time to stream one value to a client, by tier.",
            new HistogramConfiguration { LabelNames = nsTierLabels, Buckets = LatencyBuckets });
        _putSeconds = f.CreateHistogram("checkpointcache_kv_put_seconds", "Time from an item's first frame until it was published.",
            new HistogramConfiguration { LabelNames = nsLabels, Buckets = LatencyBuckets });
        _callSeconds = f.CreateHistogram("checkpointcache_rpc_seconds", "Duration of whole KV calls, by method.",
            new HistogramConfiguration { LabelNames = ["method"], Buckets = LatencyBuckets });

        var storeHits = f.CreateCounter("checkpointcache_store_hits_total", "Engine reads that found a value, by store and tier.", "store", "tier");
        var storeMisses = f.CreateCounter("checkpointcache_store_misses_total", "Engine reads that found nothing.", "store");
        var evictions = f.CreateCounter("checkpointcache_store_evictions_total", "Times the SSD tier was trimmed to its budget.", "store");
        var evictedBytes = f.CreateCounter("checkpointcache_store_evicted_bytes_total", "Bytes dropped by eviction.", "store");
        var compactionFreed = f.CreateCounter("checkpointcache_store_compaction_freed_bytes_total", "Bytes of deleted or replaced records that compaction gave back (pinned stores).", "store");
        var garbage = f.CreateGauge("checkpointcache_store_garbage_bytes", "Estimated bytes of deleted or replaced records still on disk (pinned stores).", "store");
        var corruption = f.CreateCounter("checkpointcache_store_corruption_events_total", "Chunks that failed their checksum (served as misses and removed).", "store");
        var outOfSpace = f.CreateCounter("checkpointcache_store_out_of_space_total", "Writes refused because a non-evictable store was full.", "store");
        var bytesUsed = f.CreateGauge("checkpointcache_store_bytes_used", "Bytes held, by tier.", "store", "tier");
        var budget = f.CreateGauge("checkpointcache_store_budget_bytes", "Configured budget, by tier.", "store", "tier");
        var recovery = f.CreateGauge("checkpointcache_recovery_seconds", "How long opening the data directory took at start.");
        var uptime = f.CreateGauge("checkpointcache_uptime_seconds", "Seconds since the node started.");
        var declared = f.CreateGauge("checkpointcache_declared_namespaces", "Declared KV namespaces.");

        if (cluster is { Enabled: true }) AddClusterMetrics(f, cluster);
        if (files is not null) AddCloudMetrics(f, files);

        Registry.AddBeforeCollectCallback(() =>
        {
            var stats = engine.GetStats();
            foreach (var s in stats.Namespaces)
            {
                storeHits.WithLabels(s.Name, "ram").IncTo(s.RamHits);
                storeHits.WithLabels(s.Name, "ssd").IncTo(s.SsdHits);
                storeMisses.WithLabels(s.Name).IncTo(s.Misses);
                evictions.WithLabels(s.Name).IncTo(s.Evictions);
                evictedBytes.WithLabels(s.Name).IncTo(s.EvictedBytes);
                compactionFreed.WithLabels(s.Name).IncTo(s.CompactionFreedBytes);
                garbage.WithLabels(s.Name).Set(s.GarbageBytes);
                corruption.WithLabels(s.Name).IncTo(s.CorruptionEvents);
                outOfSpace.WithLabels(s.Name).IncTo(s.OutOfSpaceRejections);
                bytesUsed.WithLabels(s.Name, "ram").Set(s.RamBytesUsed);
                bytesUsed.WithLabels(s.Name, "ssd").Set(s.SsdBytesUsed);
                budget.WithLabels(s.Name, "ram").Set(s.RamBudgetBytes);
                budget.WithLabels(s.Name, "ssd").Set(s.SsdBudgetBytes);
            }
            recovery.Set(stats.RecoveryTime.TotalSeconds);
            uptime.Set((DateTimeOffset.UtcNow - startedAt).TotalSeconds);
            declared.Set(registry.Count);
        });
    }

    /// <summary>Requests to etcd and Blob, members, replication and rebalance progress, copied from the cluster's counters at scrape time.</summary>
    private void AddClusterMetrics(MetricFactory f, ClusterNode cluster)
    {
        var etcd = f.CreateCounter("checkpointcache_etcd_requests_total", "Request messages sent to etcd (a unary call is one; each keep-alive or watch message on a stream is one), by method.", "method");
        var etcdReceived = f.CreateCounter("checkpointcache_etcd_messages_received_total", "Messages received from etcd on streams (watch events, keep-alive answers).");
        var members = f.CreateGauge("checkpointcache_cluster_members", "Live members in this node's view.");
        var viewVersion = f.CreateGauge("checkpointcache_cluster_view_version", "etcd revision of this node's member view.");
        var sentKeys = f.CreateCounter("checkpointcache_replica_copies_sent_total", "Copies sent to other members, by reason (write, rebalance).", "reason");
        var sentBytes = f.CreateCounter("checkpointcache_replica_bytes_sent_total", "Bytes of copies sent to other members, by reason.", "reason");
        var received = f.CreateCounter("checkpointcache_replica_copies_received_total", "Copies stored for other members.");
        var receivedBytes = f.CreateCounter("checkpointcache_replica_bytes_received_total", "Bytes of copies stored for other members.");
        var remoteReads = f.CreateCounter("checkpointcache_remote_reads_total", "Local misses of hashed stores, by whether an owner had the value.", "result");
        var underReplicated = f.CreateCounter("checkpointcache_under_replicated_writes_total", "Writes answered with fewer copies than their store's replicas.");
        var passes = f.CreateCounter("checkpointcache_rebalance_passes_total", "Rebalance passes run.");
        var checkedKeys = f.CreateCounter("checkpointcache_rebalance_keys_checked_total", "Keys whose owners a rebalance pass asked about.");
        var dropped = f.CreateCounter("checkpointcache_rebalance_keys_dropped_total", "Copies dropped here because every new owner holds them.");
        var pending = f.CreateGauge("checkpointcache_rebalance_pending_keys", "Keys the last rebalance pass left for a retry.");
        var fileSent = f.CreateCounter("checkpointcache_file_copies_sent_total", "File versions of replicated files stores sent to other holders, by reason (write, rebalance).", "reason");
        var fileBytesSent = f.CreateCounter("checkpointcache_file_bytes_sent_total", "Bytes of file versions sent to other holders.");
        var fileReceived = f.CreateCounter("checkpointcache_file_copies_received_total", "File versions taken from other nodes (pushed copies and reads of local misses).");
        var fileRemoteReads = f.CreateCounter("checkpointcache_file_remote_reads_total", "Local misses of replicated files stores served from another holder.");
        var fileDropped = f.CreateCounter("checkpointcache_file_copies_dropped_total", "File copies dropped here because their holders have them.");
        var filePending = f.CreateGauge("checkpointcache_file_rebalance_pending", "Files the last rebalance pass left for a retry.");
        var fileUnder = f.CreateCounter("checkpointcache_file_under_replicated_commits_total", "File commits answered with fewer holders than the store's replicas.");
        Registry.AddBeforeCollectCallback(() =>
        {
            var c = cluster.Counters;
            foreach (var (method, n) in cluster.EtcdRequests.ByMethod) etcd.WithLabels(method).IncTo(n);
            etcdReceived.IncTo(cluster.EtcdRequests.Received);
            var view = cluster.View;
            members.Set(view.Count);
            viewVersion.Set(view.Version);
            sentKeys.WithLabels("write").IncTo(c.WriteCopiesSent);
            sentKeys.WithLabels("rebalance").IncTo(c.RebalanceKeysSent);
            sentBytes.WithLabels("write").IncTo(c.WriteBytesSent);
            sentBytes.WithLabels("rebalance").IncTo(c.RebalanceBytesSent);
            received.IncTo(c.CopiesReceived);
            receivedBytes.IncTo(c.BytesReceived);
            remoteReads.WithLabels("hit").IncTo(c.RemoteReads);
            remoteReads.WithLabels("miss").IncTo(c.RemoteReadMisses);
            underReplicated.IncTo(c.UnderReplicatedWrites);
            passes.IncTo(c.RebalancePasses);
            checkedKeys.IncTo(c.RebalanceKeysChecked);
            dropped.IncTo(c.RebalanceKeysDropped);
            pending.Set(c.RebalancePending);
            fileSent.WithLabels("write").IncTo(c.FileWriteCopiesSent);
            fileSent.WithLabels("rebalance").IncTo(c.FileRebalanceCopiesSent);
            fileBytesSent.IncTo(c.FileBytesSent);
            fileReceived.IncTo(c.FileCopiesReceived);
            fileRemoteReads.IncTo(c.FileRemoteReads);
            fileDropped.IncTo(c.FileCopiesDropped);
            filePending.Set(c.FileRebalancePending);
            fileUnder.IncTo(c.FileUnderReplicatedCommits);
        });
    }

    /// <summary>
    /// Requests and bytes to Blob (every HTTP attempt, counted in the SDK pipeline) and each files store's writeback
    /// queue, copied at scrape time. The series exist with the cloud tier off too (no op label values, zeros), so a
    /// dashboard shows "nothing sent" rather than "no data".
    /// </summary>
    private void AddCloudMetrics(MetricFactory f, FileTreeRegistry files)
    {
        var requests = f.CreateCounter("checkpointcache_blob_requests_total", "HTTP requests sent to Blob storage (retries included), by operation.", "op");
        var bytes = f.CreateCounter("checkpointcache_blob_bytes_total", "Bytes sent to (up) and received from (down) Blob storage.", "direction");
        var backlogObjects = f.CreateGauge("checkpointcache_writeback_backlog_objects", "Committed files selected for writeback and not yet uploaded, by store.", "store");
        var backlogBytes = f.CreateGauge("checkpointcache_writeback_backlog_bytes", "Bytes of the files waiting for writeback, by store.", "store");
        var uploaded = f.CreateCounter("checkpointcache_writeback_uploaded_objects_total", "File versions uploaded to Blob, by store.", "store");
        var failures = f.CreateCounter("checkpointcache_writeback_failures_total", "Uploads and remote deletes that failed and wait for a retry, by store.", "store");
        var restored = f.CreateCounter("checkpointcache_blob_restored_objects_total", "Files restored from Blob (read-through and prefetch), by store.", "store");
        bytes.WithLabels("up").IncTo(0);
        bytes.WithLabels("down").IncTo(0);
        Registry.AddBeforeCollectCallback(() =>
        {
            if (files.ColdTier is { } cold)
            {
                var stats = cold.GetStats();
                foreach (var (op, n) in stats.RequestsByOperation) requests.WithLabels(op).IncTo(n);
                bytes.WithLabels("up").IncTo(stats.BytesUp);
                bytes.WithLabels("down").IncTo(stats.BytesDown);
            }
            foreach (var tree in files.Trees)
            {
                var w = tree.GetWritebackStats();
                backlogObjects.WithLabels(tree.NamespaceName).Set(w.BacklogObjects);
                backlogBytes.WithLabels(tree.NamespaceName).Set(w.BacklogBytes);
                uploaded.WithLabels(tree.NamespaceName).IncTo(w.UploadedObjects);
                failures.WithLabels(tree.NamespaceName).IncTo(w.Failures);
                restored.WithLabels(tree.NamespaceName).IncTo(w.RestoredObjects);
            }
        });
    }

    public void Hit(DeclaredNamespace ns, Tier tier, long bytes, TimeSpan elapsed)
    {
        var t = TierLabel(tier);
        _hits.WithLabels(ns.Store, ns.IdHex, t).Inc();
        _bytesRead.WithLabels(ns.Store, ns.IdHex, t).Inc(bytes);
        _getSeconds.WithLabels(ns.Store, ns.IdHex, t).Observe(elapsed.TotalSeconds);
    }

    public void Miss(DeclaredNamespace ns) => _misses.WithLabels(ns.Store, ns.IdHex).Inc();

    /// <summary>A value streamed to a client (a hit), or one lost while it was read (a miss); <paramref name="started"/> is a Stopwatch timestamp.</summary>
    public void Served(DeclaredNamespace ns, bool served, Engine.IObjectReader reader, long started)
    {
        if (served) Hit(ns, reader.Tier, reader.Length, System.Diagnostics.Stopwatch.GetElapsedTime(started));
        else Miss(ns);
    }

    public void Put(DeclaredNamespace ns, long bytes, TimeSpan elapsed)
    {
        _puts.WithLabels(ns.Store, ns.IdHex).Inc();
        _bytesWritten.WithLabels(ns.Store, ns.IdHex).Inc(bytes);
        _putSeconds.WithLabels(ns.Store, ns.IdHex).Observe(elapsed.TotalSeconds);
    }

    public void ItemError(string store, string op, Grpc.Core.StatusCode code) => _itemErrors.WithLabels(store, op, code.ToString()).Inc();

    public void Call(string method, Grpc.Core.StatusCode code, TimeSpan elapsed)
    {
        _calls.WithLabels(method, code.ToString()).Inc();
        _callSeconds.WithLabels(method).Observe(elapsed.TotalSeconds);
    }

    private static string TierLabel(Tier tier) => tier switch { Tier.Ram => "ram", Tier.Ssd => "ssd", _ => "none" };
}
