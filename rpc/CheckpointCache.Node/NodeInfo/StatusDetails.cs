using System.Globalization;
using CheckpointCache.Cluster;
using CheckpointCache.Node.Lifecycle;
using CheckpointCache.Node.Metrics;
using CheckpointCache.Rpc.Node.V1;

namespace CheckpointCache.Node;

/// <summary>The parts of GetStats for operators: lifecycle, per-namespace counters, latency histograms, writeback.</summary>
internal static class StatusDetails
{
    public static async Task AddToAsync(NodeStats stats, NodeMetrics metrics, NodeLifecycle lifecycle, ClusterNode cluster, CancellationToken ct)
    {
        stats.Lifecycle = new LifecycleStats
        {
            State = lifecycle.State.ToString().ToLowerInvariant(),
            DrainingSeconds = lifecycle.DrainingFor.TotalSeconds,
            WritesRefused = (ulong)lifecycle.WritesRefused,
            WritesInFlight = (uint)Math.Max(0, lifecycle.WritesInFlight),
            Ready = lifecycle.Ready,
        };

        var writeback = new WritebackStats { BlobRequests = (ulong)cluster.Counters.BlobRequests };
        foreach (var queue in lifecycle.Writeback)
        {
            writeback.Enabled |= queue.Enabled;
            writeback.BacklogObjects += (ulong)queue.BacklogObjects;
            writeback.BacklogBytes += (ulong)queue.BacklogBytes;
            writeback.BlobRequests = (ulong)queue.BlobRequests;
        }
        stats.Writeback = writeback;

        var snapshot = await MetricsSnapshot.CollectAsync(metrics.Registry, ct).ConfigureAwait(false);
        var byNamespace = new Dictionary<(string Store, string Ns), NamespaceStats>();
        NamespaceStats Of(MetricsSnapshot.Sample s)
        {
            var key = (s.Labels["store"], s.Labels["namespace"]);
            if (!byNamespace.TryGetValue(key, out var n)) byNamespace[key] = n = new NamespaceStats { Store = key.Item1, Namespace = key.Item2 };
            return n;
        }
        foreach (var s in snapshot.Named("checkpointcache_kv_hits_total"))
        {
            if (s.Labels.GetValueOrDefault("tier") == "ram") Of(s).RamHits += (ulong)s.Value;
            else if (s.Labels.GetValueOrDefault("tier") == "ssd") Of(s).SsdHits += (ulong)s.Value;
        }
        foreach (var s in snapshot.Named("checkpointcache_kv_misses_total")) Of(s).Misses += (ulong)s.Value;
        foreach (var s in snapshot.Named("checkpointcache_kv_read_bytes_total")) Of(s).BytesRead += (ulong)s.Value;
        foreach (var s in snapshot.Named("checkpointcache_kv_written_bytes_total")) Of(s).BytesWritten += (ulong)s.Value;
        foreach (var s in snapshot.Named("checkpointcache_kv_puts_total")) Of(s).Puts += (ulong)s.Value;
        stats.Namespaces.AddRange(byNamespace.Values.OrderBy(n => n.Store, StringComparer.Ordinal).ThenBy(n => n.Namespace, StringComparer.Ordinal));

        stats.Latencies.Add(Histogram(snapshot, "checkpointcache_kv_get_seconds", "kv_get"));
        stats.Latencies.Add(Histogram(snapshot, "checkpointcache_kv_put_seconds", "kv_put"));
    }

    /// <summary>One histogram summed over its labels (every namespace and tier), as cumulative bucket counts.</summary>
    private static LatencyHistogram Histogram(MetricsSnapshot snapshot, string metric, string name)
    {
        var buckets = new SortedDictionary<double, double>();
        foreach (var s in snapshot.Named(metric + "_bucket"))
        {
            var le = s.Labels["le"];
            if (le == "+Inf") continue;
            var bound = double.Parse(le, NumberStyles.Float, CultureInfo.InvariantCulture);
            buckets[bound] = buckets.GetValueOrDefault(bound) + s.Value;
        }
        var h = new LatencyHistogram { Name = name, Count = (ulong)snapshot.Named(metric + "_count").Sum(s => s.Value) };
        foreach (var (bound, count) in buckets)
        {
            h.UpperBounds.Add(bound);
            h.Counts.Add((ulong)count);
        }
        return h;
    }
}
