using CheckpointCache.Engine;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CheckpointCache.Node.Lifecycle;

/// <summary>
/// /healthz/live: the process is answering and its stores are open. It stays healthy through a drain, so
/// Kubernetes does not restart a node that is taking itself out of service on purpose.
/// </summary>
public sealed class LivenessCheck(ICacheEngine engine, NodeLifecycle lifecycle) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        => Task.FromResult(engine.Namespaces.Count > 0
            ? HealthCheckResult.Healthy(lifecycle.State.ToString().ToLowerInvariant())
            : HealthCheckResult.Unhealthy("no store is open"));
}
