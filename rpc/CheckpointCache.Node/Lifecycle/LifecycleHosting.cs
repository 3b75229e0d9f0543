using CheckpointCache.Cluster;
using CheckpointCache.Engine;
using CheckpointCache.Node.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Node.Lifecycle;

/// <summary>Wires the lifecycle into the node host: the service, the health checks and probe endpoints, and its metrics.</summary>
internal static class LifecycleHosting
{
    public const string LivePath = "/healthz/live";
    public const string ReadyPath = "/healthz/ready";

    public static void AddNodeLifecycle(this IServiceCollection services, IHealthChecksBuilder health, TimeSpan shutdownTimeout)
    {
        services.AddSingleton(sp => new NodeLifecycle(sp.GetRequiredService<ICacheEngine>(), sp.GetRequiredService<ClusterNode>(),
            sp.GetServices<IWritebackQueue>(), shutdownTimeout, sp.GetRequiredService<ILogger<NodeLifecycle>>()));
        // Also part of the gRPC health service's overall status, so a gRPC client sees NOT_SERVING during a drain.
        health.AddCheck<ReadinessCheck>("ready", tags: ["ready"]);
        health.AddCheck<LivenessCheck>("live", tags: ["live"]);
    }

    /// <summary>
    /// The probe endpoints. The gRPC listeners speak HTTP/2 only, so an HTTP/1.1 probe (kubelet, curl) reaches
    /// them on the metrics listener: 200 with "Healthy: ..." or 503 with "Unhealthy: ...".
    /// </summary>
    public static void MapNodeLifecycle(this WebApplication app)
    {
        app.MapHealthChecks(LivePath, Probe("live"));
        app.MapHealthChecks(ReadyPath, Probe("ready"));
        LifecycleMetrics.Register(app.Services.GetRequiredService<NodeMetrics>(), app.Services.GetRequiredService<NodeLifecycle>());
    }

    private static HealthCheckOptions Probe(string tag) => new()
    {
        Predicate = r => r.Tags.Contains(tag),
        ResponseWriter = (context, report) =>
        {
            context.Response.ContentType = "text/plain";
            var detail = string.Join("; ", report.Entries.Select(e => e.Value.Description ?? e.Key));
            return context.Response.WriteAsync($"{report.Status}: {detail}\n");
        },
    };
}
