using CheckpointCache.Client;
using CheckpointCache.Node.Tests.Infrastructure;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;

namespace CheckpointCache.Node.Tests.NodeInfo;

/// <summary>Info, stats, the standard health and reflection services, and the Prometheus endpoint.</summary>
public sealed class NodeServiceTests(NodeFixture fixture) : IClassFixture<NodeFixture>
{
    [Fact]
    public async Task InfoSaysWhatTheNodeIsAndWhereItListens()
    {
        using var client = fixture.Node.Connect(Transport.Tcp);
        await TestData.DeclareAsync(client, "info");
        var info = await client.GetInfoAsync();
        Assert.False(string.IsNullOrEmpty(info.NodeId));
        Assert.False(string.IsNullOrEmpty(info.Version));
        Assert.Equal(KeySpec.Version, info.KeySpecVersion);
        Assert.False(info.CloudEnabled);
        Assert.Equal(fixture.Node.DataDirectory, info.DataDirectory);
        Assert.Contains(fixture.Node.UnixEndpoint, info.Endpoints);
        Assert.Contains(info.Endpoints, e => e.StartsWith("http://127.0.0.1:", StringComparison.Ordinal));
        Assert.StartsWith("http://127.0.0.1:", info.MetricsUrl);
        Assert.True(info.DeclaredNamespaces >= 1);
        Assert.Equal(512u, info.Limits.MaxKeyBytes);
        Assert.Equal(64UL * 1024 * 1024, info.Limits.MaxValueBytes);
        Assert.Equal(1024u * 1024, info.Limits.MaxFrameBytes);
        Assert.Equal(60_000u, info.Limits.MaxPinTtlMs);
        var kv = info.Stores.Single(s => s.Name == "kv");
        Assert.Equal("kv", kv.Kind);
        Assert.True(kv.Evictable);
        Assert.Equal(64UL * 1024 * 1024, kv.RamBytes);
        var files = info.Stores.Single(s => s.Name == "files");
        Assert.Equal("files", files.Kind);
        Assert.False(files.Evictable);
        Assert.True(info.RecoverySeconds >= 0);
    }

    [Fact]
    public async Task StatsCountWhatClientsDid()
    {
        using var client = fixture.Node.Connect();
        var ns = await TestData.DeclareAsync(client, "stats");
        var before = (await client.GetStatsAsync()).Stores.Single(s => s.Name == "kv");
        await client.BatchPutAsync(ns, [new(TestData.Key("a"), TestData.Value(1, 2 * 1024 * 1024))]);
        await client.BatchGetAsync(ns, [TestData.Key("a"), TestData.Key("missing")]);
        var after = (await client.GetStatsAsync()).Stores.Single(s => s.Name == "kv");
        Assert.True(after.Puts >= before.Puts + 1);
        Assert.True(after.BytesWritten >= before.BytesWritten + 2 * 1024 * 1024);
        Assert.True(after.Misses >= before.Misses + 1);
        var hits = (StoreStatsHits(after) - StoreStatsHits(before));
        Assert.True(hits >= 1);
        Assert.Equal(["ram", "ssd"], after.Tiers.Select(t => t.Tier));
        Assert.Equal(64UL * 1024 * 1024, after.RamBudgetBytes);

        static ulong StoreStatsHits(Rpc.Node.V1.StoreStats s) => s.Tiers.Aggregate(0UL, (sum, t) => sum + t.Hits);
    }

    [Theory]
    [InlineData(Transport.UnixSocket)]
    [InlineData(Transport.Tcp)]
    public async Task HealthServiceSaysServing(Transport transport)
    {
        using var client = fixture.Node.Connect(transport);
        var health = new Health.HealthClient(client.Channel);
        var response = await health.CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, response.Status);
    }

    [Fact]
    public async Task ReflectionListsTheServices()
    {
        using var client = fixture.Node.Connect();
        var reflection = new ServerReflection.ServerReflectionClient(client.Channel);
        using var call = reflection.ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var services = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.Contains("checkpointcache.kv.v1.KvCache", services);
        Assert.Contains("checkpointcache.node.v1.Node", services);
        Assert.Contains("grpc.health.v1.Health", services);
    }

    [Fact]
    public async Task PrometheusEndpointExportsPerNamespaceAndTierMetrics()
    {
        using var client = fixture.Node.Connect();
        var ns = await TestData.DeclareAsync(client, "metrics");
        await client.BatchPutAsync(ns, [new(TestData.Key("m"), TestData.Value(1, 1000))]);
        await client.BatchGetAsync(ns, [TestData.Key("m"), TestData.Key("nope")]);

        using var http = new HttpClient();
        var text = await http.GetStringAsync(fixture.Node.MetricsUrl);
        Assert.Contains($"checkpointcache_kv_hits_total{{store=\"kv\",namespace=\"{ns.IdHex}\",tier=\"ram\"}} 1", text);
        Assert.Contains($"checkpointcache_kv_misses_total{{store=\"kv\",namespace=\"{ns.IdHex}\"}} 1", text);
        Assert.Contains($"checkpointcache_kv_read_bytes_total{{store=\"kv\",namespace=\"{ns.IdHex}\",tier=\"ram\"}} 1000", text);
        Assert.Contains($"checkpointcache_kv_get_seconds_bucket{{store=\"kv\",namespace=\"{ns.IdHex}\",tier=\"ram\"", text);
        Assert.Contains($"checkpointcache_kv_put_seconds_count{{store=\"kv\",namespace=\"{ns.IdHex}\"}} 1", text);
        Assert.Contains("checkpointcache_rpc_calls_total{method=\"BatchGet\",code=\"OK\"}", text);
        Assert.Contains("checkpointcache_store_evictions_total{store=\"kv\"}", text);
        Assert.Contains("checkpointcache_store_corruption_events_total{store=\"kv\"}", text);
        Assert.Contains("checkpointcache_store_bytes_used{store=\"kv\",tier=\"ram\"}", text);
        Assert.Contains("checkpointcache_recovery_seconds ", text);
    }

    [Fact]
    public async Task NamespaceLimitIsEnforcedAndConfiguredNamespacesNeedNoDeclaration()
    {
        await using var node = await TestNode.StartAsync(s =>
        {
            s["Limits:MaxNamespaces"] = "2";
            s["Node:Namespaces:0:Model"] = "configured/model";
            s["Node:Namespaces:0:Dtype"] = "fp8_e4m3";
            s["Node:Namespaces:0:TokensPerBlock"] = "32";
        });
        using var client = node.Connect();
        Assert.Equal(1u, (await client.GetInfoAsync()).DeclaredNamespaces);

        var configured = new Rpc.Kv.V1.NamespaceDescriptor { Model = "configured/model", Dtype = "fp8_e4m3", TpSize = 1, TokensPerBlock = 32 };
        var ns = new KvNamespace("kv", KeySpec.NamespaceId(configured), configured);
        Assert.True((await client.BatchPutAsync(ns, [new(TestData.Key("k"), new byte[] { 42 })]))[0].Ok);

        await TestData.DeclareAsync(client, "second");
        var e = await Assert.ThrowsAsync<RpcException>(() => TestData.DeclareAsync(client, "third"));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("Limits:MaxNamespaces (2)", e.Status.Detail);
        // Declaring one that exists is still fine at the limit.
        Assert.Equal(ns.Id, (await client.DeclareNamespaceAsync(configured)).Id);
    }
}
