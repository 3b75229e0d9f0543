using System.Net;
using CheckpointCache.Client;
using CheckpointCache.Node.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Health.V1;

namespace CheckpointCache.Node.Tests.Lifecycle;

/// <summary>`checkpointcache drain` on a real node process: writes refused with a status naming the drain, reads served, probes.</summary>
public sealed class DrainTests
{
    [Fact]
    public async Task DrainRefusesNewWritesServesReadsAndTurnsNotReadyButStaysLive()
    {
        using var dir = new TestDirectory();
        var settings = TestSettings.For(dir.Path);
        settings["Logging:LogLevel:CheckpointCache.Node"] = "Information";
        using var node = await NodeProcess.StartAsync(TestSettings.Args(settings));
        using var client = CacheClient.Connect(node.UnixEndpoint);
        var metricsUrl = (await client.GetInfoAsync()).MetricsUrl;
        var ns = await TestData.DeclareAsync(client, "drain");
        var before = new KvItem(TestData.Key("before"), TestData.Value(1, 300_000));
        Assert.True((await client.BatchPutAsync(ns, [before]))[0].Ok);
        // Some gets, so status has a hit rate and a latency to show.
        Assert.True((await client.BatchGetAsync(ns, [before.Key]))[0].Hit);

        var ready = await Probes.GetAsync(metricsUrl, "/healthz/ready");
        Assert.Equal(HttpStatusCode.OK, ready.Code);
        Assert.Equal(HttpStatusCode.OK, (await Probes.GetAsync(metricsUrl, "/healthz/live")).Code);

        var status = await CliRunner.RunAsync(["status", "--endpoint", node.UnixEndpoint, "--interval", "0.2"]);
        Assert.Equal(0, status.ExitCode);
        foreach (var field in new[] { "state       serving (ready)", "throughput  read ", "latency     p99 get ", "cluster     off", "cloud tier  off", "ssd use", "hit rate ram/ssd/miss", "100% / 0% / 0%" })
            Assert.Contains(field, status.StandardOutput);

        var drain = await CliRunner.RunAsync(["drain", "--endpoint", node.UnixEndpoint]);
        Assert.True(drain.ExitCode == 0, drain.StandardOutput + drain.StandardError);
        Assert.Contains("state          drained", drain.StandardOutput);
        Assert.Contains("committed      yes", drain.StandardOutput);

        // New writes: refused with UNAVAILABLE and a message that names the drain.
        var refused = await Assert.ThrowsAsync<RpcException>(() => client.BatchPutAsync(ns, [new KvItem(TestData.Key("after"), TestData.Value(2, 1000))]));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Contains("is draining", refused.Status.Detail);
        var deleteRefused = await Assert.ThrowsAsync<RpcException>(() => client.DeleteAsync(ns, [before.Key]));
        Assert.Equal(StatusCode.Unavailable, deleteRefused.StatusCode);

        // Reads: still served.
        var got = (await client.BatchGetAsync(ns, [before.Key]))[0];
        Assert.True(got.Hit, got.Message);
        Assert.Equal(before.Value.ToArray(), got.Value);

        // Probes: not ready, still live; gRPC health agrees with readiness.
        ready = await Probes.GetAsync(metricsUrl, "/healthz/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.Code);
        Assert.Contains("drained", ready.Body);
        Assert.Equal(HttpStatusCode.OK, (await Probes.GetAsync(metricsUrl, "/healthz/live")).Code);
        var health = await new Health.HealthClient(client.Channel).CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, health.Status);

        var metrics = await Probes.GetAsync(metricsUrl, "/metrics");
        Assert.Contains("checkpointcache_node_state 2", metrics.Body);
        Assert.Contains("checkpointcache_drain_refused_writes_total 2", metrics.Body);

        status = await CliRunner.RunAsync(["status", "--endpoint", node.UnixEndpoint, "--interval", "0"]);
        Assert.Equal(0, status.ExitCode);
        Assert.Contains("state       drained (not ready; reads only, new writes refused: 2", status.StandardOutput);

        // A drained node still stops cleanly on SIGTERM (the drain is not run twice).
        Assert.Equal(0, await node.StopAsync());
        Assert.Contains("Shutdown complete", node.Output);
    }
}
