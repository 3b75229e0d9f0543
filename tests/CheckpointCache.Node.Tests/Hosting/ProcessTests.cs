using CheckpointCache.Client;
using CheckpointCache.Node.Tests.Infrastructure;
using CheckpointCache.Rpc.Kv.V1;

namespace CheckpointCache.Node.Tests.Hosting;

/// <summary>The node executable as a child process: embedded defaults, restart on the same data, and crash recovery.</summary>
public sealed class ProcessTests
{
    [Fact]
    public async Task RestartKeepsValuesAndDeclaredNamespaces()
    {
        using var dir = new TestDirectory();
        var settings = TestSettings.For(dir.Path);
        settings.Remove("Logging:LogLevel:Default"); // the test waits for the line that says where the node listens
        var args = TestSettings.Args(settings);
        var items = new[] { 1, 70_000, 1024 * 1024 - 1024, 1024 * 1024 + 5, 3 * 1024 * 1024, 9 * 1024 * 1024 + 3, 17 * 1024 * 1024 }
            .Select((size, i) => new KvItem(TestData.Key($"persist-{i}"), TestData.Value(1000 + i, size))).ToList();
        KvNamespace ns;

        using (var node = await NodeProcess.StartAsync(args))
        {
            using var client = CacheClient.Connect(node.UnixEndpoint);
            ns = await TestData.DeclareAsync(client, "restart");
            Assert.All(await client.BatchPutAsync(ns, items), r => Assert.True(r.Ok, r.Message));
            Assert.Equal(0, await node.StopAsync());
        }

        using (var node = await NodeProcess.StartAsync(args))
        {
            using var client = CacheClient.Connect(node.UnixEndpoint);
            var info = await client.GetInfoAsync();
            Assert.Equal(1u, info.DeclaredNamespaces);
            Assert.True(info.RecoverySeconds > 0);
            // No DeclareNamespace after the restart: the node remembered it.
            var got = await client.BatchGetAsync(new KvNamespace(ns.Store, ns.Id), items.Select(i => i.Key).ToList());
            for (int i = 0; i < items.Count; i++)
            {
                Assert.True(got[i].Hit, $"item {i}: {got[i].Message}");
                Assert.True(items[i].Value.Span.SequenceEqual(got[i].Value), $"item {i} differs after the restart");
            }

            // Killed without warning: the next start finds the stale socket and its data directory again.
            await node.KillAsync();
        }

        using (var node = await NodeProcess.StartAsync(args))
        {
            using var client = CacheClient.Connect(node.UnixEndpoint);
            var got = await client.BatchGetAsync(new KvNamespace(ns.Store, ns.Id), items.Select(i => i.Key).ToList());
            Assert.All(got, g => Assert.True(g.Hit, g.Message));
            Assert.Equal(items[^1].Value.ToArray(), got[^1].Value);
            Assert.Equal(0, await node.StopAsync());
        }
    }

    [Fact]
    public async Task WithNoConfigurationItRunsSsdOnlyInALocalFolder()
    {
        using var dir = new TestDirectory();
        // Only the ports are freed up, so the test cannot clash with a node a developer runs on 7400.
        using var node = await NodeProcess.StartAsync([], dir.Path, new Dictionary<string, string> { ["CCACHE_Node__TcpPort"] = "0", ["CCACHE_Node__MetricsPort"] = "0" });
        Assert.Equal("unix:" + Path.Combine(dir.Path, "data", "node.sock"), node.Endpoints[0]);
        Assert.StartsWith("http://127.0.0.1:", node.Endpoints[1]);
        Assert.Contains("cloud tier off", node.Output);

        // The CLI started in the same folder finds the node's socket by itself.
        var status = await CliRunner.RunAsync(["status"], workingDirectory: dir.Path);
        Assert.Equal(0, status.ExitCode);
        Assert.Contains("cloud tier  off", status.StandardOutput);
        Assert.Contains(Path.Combine(dir.Path, "data"), status.StandardOutput);
        Assert.Equal(0, await node.StopAsync());
        Assert.False(File.Exists(Path.Combine(dir.Path, "data", "node.sock")));
    }
}
