using CheckpointCache.Client;
using CheckpointCache.Node.Tests.Infrastructure;

namespace CheckpointCache.Node.Tests.Cluster;

/// <summary>etcd restarted under a running cluster, and a node frozen past its lease.</summary>
[Collection(ClusterCollection.Name)]
public sealed class FailureTests
{
    private static async Task<(KvNamespace Ns, List<KvItem> Items)> WriteAsync(TestCluster cluster, string test, int count)
    {
        var descriptor = TestData.Descriptor(test);
        KvNamespace? ns = null;
        foreach (var m in cluster.Members) ns = await m.Client.DeclareNamespaceAsync(descriptor, TestCluster.Store);
        var items = Enumerable.Range(0, count).Select(i => new KvItem(TestData.Key($"{test}-{i}"), TestData.Value(i, 30_000 + i))).ToList();
        Assert.All(await cluster.Members[0].Client.BatchPutAsync(ns!, items), r => Assert.Equal(TestCluster.Replicas, r.Replicas));
        return (ns!, items);
    }

    private static async Task AssertAtOwnersAsync(IReadOnlyCollection<ClusterMember> live, KvNamespace ns, IReadOnlyList<KvItem> items)
    {
        var keys = items.Select(i => i.Key.ToArray()).ToList();
        var ids = live.Select(m => m.Id).ToList();
        var holders = await TestCluster.HoldersAsync(live, ns, keys);
        for (int i = 0; i < keys.Count; i++)
            Assert.True(TestCluster.OwnersOf(ns, keys[i], ids).SetEquals(holders[i]), $"key {i} is held by [{string.Join(",", holders[i])}]");
    }

    [Fact]
    public async Task TheClusterRidesOutAnEtcdRestart()
    {
        if (!EtcdProcess.Installed) throw new InvalidOperationException("etcd-server is not installed (scripts/test.sh installs it)");
        using var cluster = await TestCluster.StartAsync(3);
        var (ns, items) = await WriteAsync(cluster, "etcd-restart", 30);
        var registrations = new Dictionary<string, uint>();
        foreach (var m in cluster.Members) registrations[m.Id] = (await m.StatsAsync()).Registrations;

        await cluster.Etcd.KillAsync();
        // Without etcd every node keeps its last view: replicated writes and reads from owners go on.
        var more = Enumerable.Range(0, 10).Select(i => new KvItem(TestData.Key($"during-outage-{i}"), TestData.Value(500 + i, 10_000))).ToList();
        Assert.All(await cluster["n2"].Client.BatchPutAsync(ns, more), r => Assert.Equal(TestCluster.Replicas, r.Replicas));
        var got = await cluster["n3"].Client.BatchGetAsync(ns, items.Concat(more).Select(i => i.Key).ToList());
        Assert.All(got, g => Assert.True(g.Hit, g.Message));
        foreach (var m in cluster.Members) Assert.Equal(3, (await m.StatsAsync()).Members.Count);

        await cluster.Etcd.StartAgainAsync();
        // The nodes reconnect on their own; their leases survived the restart, so nobody left or re-registered.
        await Eventually.UntilAsync(async () =>
        {
            foreach (var m in cluster.Members)
                if ((await m.StatsAsync()).EtcdRequestsByMethod.Single(x => x.Method == "Range").Requests < 2) return false;
            return true;
        }, "every node to list the members again after the restart");
        foreach (var m in cluster.Members) Assert.Equal(registrations[m.Id], (await m.StatsAsync()).Registrations);

        // Watches work again: a fourth node joins and everyone sees it, and the data moves to its owners.
        var n4 = await cluster.AddAsync("n4");
        await n4.Client.DeclareNamespaceAsync(ns.Descriptor!, TestCluster.Store);
        await TestCluster.WaitSettledAsync(cluster.Members);
        await AssertAtOwnersAsync(cluster.Members, ns, items.Concat(more).ToList());
    }

    [Fact]
    public async Task ANodePausedPastItsLeaseLeavesAndRejoinsCleanly()
    {
        if (!EtcdProcess.Installed) throw new InvalidOperationException("etcd-server is not installed (scripts/test.sh installs it)");
        using var cluster = await TestCluster.StartAsync(3);
        var (ns, items) = await WriteAsync(cluster, "paused", 40);
        await TestCluster.WaitSettledAsync(cluster.Members);
        var n3 = cluster["n3"];
        var others = cluster.Members.Where(m => m.Id != "n3").ToList();

        n3.Process.Pause();
        try
        {
            // Its lease expires: the others see it leave and bring every key back to two copies between them.
            await TestCluster.WaitSettledAsync(others);
            await AssertAtOwnersAsync(others, ns, items);
        }
        finally
        {
            n3.Process.Resume();
        }

        // Resumed, it finds its lease gone, registers again, and ends up holding exactly what it owns.
        await TestCluster.WaitSettledAsync(cluster.Members);
        await AssertAtOwnersAsync(cluster.Members, ns, items);
        Assert.Equal(2u, (await n3.StatsAsync()).Registrations);
        Assert.False(n3.Process.HasExited);
        var got = await n3.Client.BatchGetAsync(ns, items.Select(i => i.Key).ToList());
        for (int i = 0; i < items.Count; i++) Assert.True(items[i].Value.Span.SequenceEqual(got[i].Value), $"key {i}: {got[i].Message}");
    }
}
