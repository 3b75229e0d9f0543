using CheckpointCache.Client;
using CheckpointCache.Node.Tests.Cluster;
using CheckpointCache.Node.Tests.Infrastructure;

namespace CheckpointCache.Node.Tests.Lifecycle;

/// <summary>
/// A drained member hands the keys only it holds to their new owners: with one replica per key, everything written
/// is still readable from the survivor once the drained node is gone.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class HandOffTests
{
    [Fact]
    public async Task DrainHandsKeysOnlyThisNodeHoldsToTheirNewOwner()
    {
        if (!EtcdProcess.Installed) Assert.Fail("etcd is not installed (scripts/test.sh installs etcd-server)");
        using var cluster = await TestCluster.StartAsync(0);
        var dirs = new List<TestDirectory>();
        try
        {
            foreach (var id in new[] { "n1", "n2" })
            {
                var dir = new TestDirectory();
                dirs.Add(dir);
                var settings = cluster.SettingsFor(id, dir);
                settings["Cluster:Stores:ckpt:Replicas"] = "1"; // each key on one node only: nobody else can restore it
                cluster.Members.Add(await ClusterMember.StartAsync(id, dir, settings));
            }
            await TestCluster.WaitSettledAsync(cluster.Members);
            var (n1, n2) = (cluster["n1"], cluster["n2"]);

            var descriptor = TestData.Descriptor("handoff");
            var ns = await n1.Client.DeclareNamespaceAsync(descriptor, TestCluster.Store);
            await n2.Client.DeclareNamespaceAsync(descriptor, TestCluster.Store);
            var items = Enumerable.Range(0, 40).Select(i => new KvItem(TestData.Key($"only-{i}"), TestData.Value(100 + i, 10_000 + i))).ToList();
            var keys = items.Select(i => i.Key.ToArray()).ToList();
            Assert.All(await n1.Client.BatchPutAsync(ns, items), r => Assert.True(r.Ok, r.Message));
            int onN1Only = (await n1.HoldsAsync(ns, keys)).Count(h => h);
            Assert.True(onN1Only > 0, "rendezvous hashing gave n1 none of 40 keys");

            var drain = await CliRunner.RunAsync(["drain", "--endpoint", n1.Process.UnixEndpoint]);
            Assert.True(drain.ExitCode == 0, drain.StandardOutput + drain.StandardError);
            Assert.Contains("left cluster   yes (lease revoked)", drain.StandardOutput);
            Assert.Contains($"handed off     {onN1Only} keys", drain.StandardOutput);

            Assert.Equal(0, await n1.Process.StopAsync());
            await TestCluster.WaitSettledAsync([n2]);
            Assert.All(await n2.HoldsAsync(ns, keys), Assert.True);
            var got = await n2.Client.BatchGetAsync(ns, items.Select(i => i.Key).ToList());
            for (int i = 0; i < items.Count; i++)
                Assert.True(got[i].Hit && items[i].Value.Span.SequenceEqual(got[i].Value), $"item {i}: {got[i].Message}");
        }
        finally
        {
            foreach (var m in cluster.Members) m.Dispose();
            cluster.Members.Clear();
            foreach (var d in dirs) d.Dispose();
        }
    }
}
