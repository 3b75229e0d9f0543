using CheckpointCache.Client;
using CheckpointCache.Cluster;
using CheckpointCache.Engine;
using CheckpointCache.Node.Lifecycle;
using CheckpointCache.Node.Metrics;
using CheckpointCache.Node.Options;
using CheckpointCache.Rpc.Node.V1;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace CheckpointCache.Node;

/// <summary>Node introspection (node.proto): what the node is, its limits and stores, and its counters.</summary>
public sealed class NodeService(ICacheEngine engine, NamespaceRegistry registry, NodeIdentity identity, IOptions<LimitsOptions> limits, ClusterNode cluster,
    NodeLifecycle lifecycle, NodeMetrics metrics, Files.FileTreeRegistry files)
    : Rpc.Node.V1.Node.NodeBase
{
    public override Task<NodeInfo> GetInfo(GetInfoRequest request, ServerCallContext context)
    {
        var l = limits.Value;
        var info = new NodeInfo
        {
            NodeId = identity.NodeId,
            Version = NodeIdentity.Version,
            KeySpecVersion = KeySpec.Version,
            DataDirectory = identity.DataDirectory,
            CloudEnabled = files.ColdTier is not null,
            Limits = new Limits
            {
                MaxKeyBytes = (uint)l.MaxKeyBytes,
                MaxValueBytes = (ulong)l.MaxValueBytes.Bytes,
                MaxBatchKeys = (uint)l.MaxBatchKeys,
                MaxBatchBytes = (ulong)l.MaxBatchBytes.Bytes,
                MaxNamespaces = (uint)l.MaxNamespaces,
                MaxFrameBytes = (uint)l.MaxFrameBytes.Bytes,
                MaxPinTtlMs = (uint)l.MaxPinTtl.TotalMilliseconds,
                MaxDescriptorBytes = (uint)l.MaxDescriptorBytes,
                MaxReceiveMessageBytes = (ulong)l.MaxReceiveMessageBytes.Bytes,
            },
            DeclaredNamespaces = (uint)registry.Count,
            RecoverySeconds = engine.RecoveryTime.TotalSeconds,
            UptimeSeconds = identity.Uptime.TotalSeconds,
            MetricsUrl = identity.MetricsUrl ?? "",
            DataSocket = identity.DataSocket ?? "",
        };
        info.Endpoints.AddRange(identity.Endpoints);
        foreach (var ns in engine.Namespaces.OrderBy(n => n.Name, StringComparer.Ordinal))
        {
            var policy = ns.Policy;
            info.Stores.Add(new StoreInfo
            {
                Name = ns.Name,
                Kind = ns.Kind == NamespaceKind.Kv ? "kv" : "files",
                RamBytes = (ulong)policy.RamBytes.Bytes,
                SsdBytes = (ulong)policy.SsdBytes.Bytes,
                Evictable = policy.IsEvictable,
                PromoteOnHit = policy.IsPromoteOnHit,
            });
        }
        return Task.FromResult(info);
    }

    /// <summary>Drains the node (see <see cref="NodeLifecycle"/>) and answers when the drain is over; the process keeps running.</summary>
    public override async Task<DrainResponse> Drain(DrainRequest request, ServerCallContext context)
    {
        // Not tied to the call: a client that gives up does not stop the drain.
        var result = await lifecycle.DrainAsync("drain requested by a client").WaitAsync(context.CancellationToken);
        var response = new DrainResponse
        {
            State = result.Completed ? "drained" : "incomplete",
            WritesWaited = (ulong)result.WritesWaited,
            Committed = result.Committed,
            LeftCluster = result.LeftCluster,
            KeysHandedOff = (ulong)result.KeysHandedOff,
            Seconds = result.Elapsed.TotalSeconds,
        };
        response.Notes.AddRange(result.Notes);
        return response;
    }

    public override async Task<NodeStats> GetStats(GetStatsRequest request, ServerCallContext context)
    {
        var result = BaseStats();
        await StatusDetails.AddToAsync(result, metrics, lifecycle, cluster, context.CancellationToken);
        return result;
    }

    private NodeStats BaseStats()
    {
        var stats = engine.GetStats();
        var result = new NodeStats { RecoverySeconds = stats.RecoveryTime.TotalSeconds, UptimeSeconds = identity.Uptime.TotalSeconds };
        foreach (var s in stats.Namespaces.OrderBy(n => n.Name, StringComparer.Ordinal))
        {
            var store = new StoreStats
            {
                Name = s.Name,
                Misses = (ulong)s.Misses,
                Puts = (ulong)s.Puts,
                BytesWritten = (ulong)s.BytesWritten,
                Deletes = (ulong)s.Deletes,
                EvictedBytes = (ulong)s.EvictedBytes,
                Evictions = (ulong)s.Evictions,
                CorruptionEvents = (ulong)s.CorruptionEvents,
                OutOfSpaceRejections = (ulong)s.OutOfSpaceRejections,
                RamBudgetBytes = (ulong)s.RamBudgetBytes,
                SsdBudgetBytes = (ulong)s.SsdBudgetBytes,
            };
            store.Tiers.Add(new TierStats { Tier = "ram", Hits = (ulong)s.RamHits, BytesRead = (ulong)s.RamBytesRead, BytesUsed = (ulong)s.RamBytesUsed });
            store.Tiers.Add(new TierStats { Tier = "ssd", Hits = (ulong)s.SsdHits, BytesRead = (ulong)s.SsdBytesRead, BytesUsed = (ulong)s.SsdBytesUsed });
            result.Stores.Add(store);
        }
        if (files.ColdTier is { } cold) result.Cloud = CloudStatsOf(cold, files);
        if (cluster.Enabled)
        {
            result.Cluster = ClusterStatsOf(cluster);
            result.Cluster.BlobRequests = (ulong)(files.ColdTier?.GetStats().Requests ?? 0);
        }
        return result;
    }

    private static CloudStats CloudStatsOf(Engine.Files.IColdTier cold, Files.FileTreeRegistry files)
    {
        var blob = cold.GetStats();
        var stats = new CloudStats { BlobRequests = (ulong)blob.Requests, BytesUp = (ulong)blob.BytesUp, BytesDown = (ulong)blob.BytesDown };
        foreach (var (op, n) in blob.RequestsByOperation.OrderBy(o => o.Key, StringComparer.Ordinal))
            stats.RequestsByOperation.Add(new BlobOperationCount { Op = op, Requests = (ulong)n });
        foreach (var tree in files.Trees.OrderBy(t => t.NamespaceName, StringComparer.Ordinal))
        {
            var w = tree.GetWritebackStats();
            stats.Stores.Add(new WritebackStoreStats
            {
                Store = tree.NamespaceName, BacklogObjects = (ulong)w.BacklogObjects, BacklogBytes = (ulong)w.BacklogBytes, UploadedObjects = (ulong)w.UploadedObjects,
                Failures = (ulong)w.Failures, RestoredObjects = (ulong)w.RestoredObjects, PendingRemoteDeletes = (ulong)w.PendingRemoteDeletes,
            });
        }
        return stats;
    }

    private static ClusterStats ClusterStatsOf(ClusterNode cluster)
    {
        var c = cluster.Counters;
        var view = cluster.View;
        var stats = new ClusterStats
        {
            MemberId = cluster.SelfId,
            PeerEndpoint = cluster.PeerEndpoint ?? "",
            ViewVersion = (ulong)Math.Max(0, view.Version),
            EtcdRequests = (ulong)cluster.EtcdRequests.Total,
            EtcdMessagesReceived = (ulong)cluster.EtcdRequests.Received,
            RebalancePasses = (ulong)c.RebalancePasses,
            RebalanceKeysChecked = (ulong)c.RebalanceKeysChecked,
            RebalanceKeysSent = (ulong)c.RebalanceKeysSent,
            RebalanceBytesSent = (ulong)c.RebalanceBytesSent,
            RebalanceKeysDropped = (ulong)c.RebalanceKeysDropped,
            RebalancePending = (ulong)c.RebalancePending,
            RebalanceSettledVersion = (ulong)Math.Max(0, cluster.RebalanceSettledVersion),
            WriteCopiesSent = (ulong)c.WriteCopiesSent,
            CopiesReceived = (ulong)c.CopiesReceived,
            RemoteReads = (ulong)c.RemoteReads,
            UnderReplicatedWrites = (ulong)c.UnderReplicatedWrites,
            RebalanceSettled = cluster.RebalanceSettled,
            Registrations = (uint)(cluster.Membership is CheckpointCache.Cluster.Membership.EtcdMembership etcd ? etcd.Registrations : 1),
            FileWriteCopiesSent = (ulong)c.FileWriteCopiesSent,
            FileRebalanceCopiesSent = (ulong)c.FileRebalanceCopiesSent,
            FileBytesSent = (ulong)c.FileBytesSent,
            FileCopiesReceived = (ulong)c.FileCopiesReceived,
            FileRemoteReads = (ulong)c.FileRemoteReads,
            FileCopiesDropped = (ulong)c.FileCopiesDropped,
            FileRebalancePending = (ulong)c.FileRebalancePending,
            FileUnderReplicatedCommits = (ulong)c.FileUnderReplicatedCommits,
        };
        stats.Members.AddRange(view.Members.Select(m => m.Id));
        foreach (var (method, n) in cluster.EtcdRequests.ByMethod.OrderBy(m => m.Key, StringComparer.Ordinal))
            stats.EtcdRequestsByMethod.Add(new EtcdMethodCount { Method = method, Requests = (ulong)n });
        return stats;
    }
}
