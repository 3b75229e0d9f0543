using CheckpointCache.Cluster;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CheckpointCache.Node.Lifecycle;

/// <summary>
/// /healthz/ready: the node takes new work. Not ready while draining or drained (Kubernetes stops routing to it,
/// a load balancer takes it out), nor while a cluster member has not yet joined.
/// </summary>
public sealed class ReadinessCheck(NodeLifecycle lifecycle, ClusterNode cluster) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!lifecycle.Ready)
            return Task.FromResult(HealthCheckResult.Unhealthy($"{lifecycle.State.ToString().ToLowerInvariant()}: new writes are refused"));
        if (cluster.Enabled && cluster.View.Find(cluster.SelfId) is null)
            return Task.FromResult(HealthCheckResult.Unhealthy("not (yet) in the cluster's member list"));
        return Task.FromResult(HealthCheckResult.Healthy("serving"));
    }
}
