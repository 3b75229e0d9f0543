using CheckpointCache.Node.Metrics;
using Prometheus;

namespace CheckpointCache.Node.Lifecycle;

/// <summary>The lifecycle's state for Prometheus, on the node's registry, read at scrape time.</summary>
internal static class LifecycleMetrics
{
    public static void Register(NodeMetrics metrics, NodeLifecycle lifecycle)
    {
        var f = Prometheus.Metrics.WithCustomRegistry(metrics.Registry);
        var state = f.CreateGauge("checkpointcache_node_state", "0 serving, 1 draining, 2 drained.");
        var ready = f.CreateGauge("checkpointcache_node_ready", "1 while /healthz/ready answers 200.");
        var inFlight = f.CreateGauge("checkpointcache_writes_in_flight", "Client write calls in progress.");
        var refused = f.CreateCounter("checkpointcache_drain_refused_writes_total", "Client writes refused because the node was draining.");
        metrics.Registry.AddBeforeCollectCallback(() =>
        {
            state.Set((int)lifecycle.State);
            ready.Set(lifecycle.Ready ? 1 : 0);
            inFlight.Set(lifecycle.WritesInFlight);
            refused.IncTo(lifecycle.WritesRefused);
        });
    }
}
