using CheckpointCache.Engine;
using Prometheus;

namespace CheckpointCache.Node.Metrics;

/// <summary>
/// Bytes read and written per store, whatever API moved them (KV, files, the mount, peers): the node's GB/s on the
/// dashboard and in `status`. Copied from the engine's counters at scrape time, like the other store metrics.
/// </summary>
internal static class StoreTrafficMetrics
{
    public static void Register(NodeMetrics metrics, ICacheEngine engine)
    {
        var f = Prometheus.Metrics.WithCustomRegistry(metrics.Registry);
        var read = f.CreateCounter("checkpointcache_store_read_bytes_total", "Value bytes read from a store, by tier.", "store", "tier");
        var written = f.CreateCounter("checkpointcache_store_written_bytes_total", "Value bytes written to a store.", "store");
        metrics.Registry.AddBeforeCollectCallback(() =>
        {
            foreach (var s in engine.GetStats().Namespaces)
            {
                read.WithLabels(s.Name, "ram").IncTo(s.RamBytesRead);
                read.WithLabels(s.Name, "ssd").IncTo(s.SsdBytesRead);
                written.WithLabels(s.Name).IncTo(s.BytesWritten);
            }
        });
    }
}
