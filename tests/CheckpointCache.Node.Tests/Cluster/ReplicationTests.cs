using CheckpointCache.Client;
using CheckpointCache.Node.Tests.Infrastructure;

namespace CheckpointCache.Node.Tests.Cluster;

/// <summary>Replicated writes, survival of kill -9 of any node, replica restoration, and refill of a node that comes back.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ReplicationTests
{
    private static readonly string[] Three = ["n1", "n2", "n3"];

    private static async Task<KvNamespace> DeclareEverywhereAsync(IEnumerable<ClusterMember> members, string test)
    {
        var descriptor = TestData.Descriptor(test);
        KvNamespace? ns = null;
        foreach (var m in members) ns = await m.Client.DeclareNamespaceAsync(descriptor, TestCluster.Store);
        return ns!;
    }

    private static async Task AssertAtOwnersAsync(IReadOnlyCollection<ClusterMember> live, KvNamespace ns, IReadOnlyList<byte[]> keys)
    {
        var ids = live.Select(m => m.Id).ToList();
        var holders = await TestCluster.HoldersAsync(live, ns, keys);
        for (int i = 0; i < keys.Count; i++)
            Assert.True(TestCluster.OwnersOf(ns, keys[i], ids).SetEquals(holders[i]),
                $"key {i}: held by [{string.Join(",", holders[i])}], rendezvous owners among [{string.Join(",", ids)}] are [{string.Join(",", TestCluster.OwnersOf(ns, keys[i], ids))}]");
    }

    [Fact]
    public async Task ReplicatedDataSurvivesKillOfAnyNodeAndTheReplicaCountIsRestored()
    {
        if (!EtcdProcess.Installed) throw new InvalidOperationException("etcd-server is not installed (scripts/test.sh installs it)");
        using var cluster = await TestCluster.StartAsync(3);
        var ns = await DeclareEverywhereAsync(cluster.Members, "survive");
        // Inline values and chunked ones (the store's chunks are 1 MiB - 1 KiB).
        var items = Enumerable.Range(0, 40).Select(i => new KvItem(TestData.Key($"shard-{i}"), TestData.Value(i, i % 10 == 0 ? 2_500_000 : 20_000 + i))).ToList();
        var keys = items.Select(i => i.Key.ToArray()).ToList();

        // Written through n1: each answer says two nodes hold the item.
        var results = await cluster["n1"].Client.BatchPutAsync(ns, items);
        Assert.All(results, r => { Assert.True(r.Ok, r.Message); Assert.Equal(TestCluster.Replicas, r.Replicas); });
        await TestCluster.WaitSettledAsync(cluster.Members);
        await AssertAtOwnersAsync(cluster.Members, ns, keys);

        foreach (var victim in Three)
        {
            await cluster[victim].Process.KillAsync();
            var survivors = cluster.Members.Where(m => m.Id != victim).ToList();

            // Every value is readable through every survivor (from itself or from the other owner) while the lease runs out.
            foreach (var s in survivors)
            {
                var got = await s.Client.BatchGetAsync(ns, keys.Select(k => (ReadOnlyMemory<byte>)k).ToList());
                for (int i = 0; i < items.Count; i++) Assert.True(items[i].Value.Span.SequenceEqual(got[i].Value), $"after killing {victim}, {s.Id} read key {i} wrong: {got[i].Message}");
            }

            // The victim's lease expires, the survivors see it leave and copy what it held: two copies of every key again.
            await TestCluster.WaitSettledAsync(survivors);
            await AssertAtOwnersAsync(survivors, ns, keys);

            // It comes back on its old disk: its peers refill what it owns, and copies it no longer owns go away.
            await cluster[victim].StartAgainAsync();
            await TestCluster.WaitSettledAsync(cluster.Members);
            await AssertAtOwnersAsync(cluster.Members, ns, keys);
        }

        var stats = await cluster["n2"].StatsAsync();
        Assert.Equal(0ul, stats.BlobRequests);
        Assert.True(stats.RebalanceKeysSent + (await cluster["n1"].StatsAsync()).RebalanceKeysSent + (await cluster["n3"].StatsAsync()).RebalanceKeysSent > 0);
    }

    [Fact]
    public async Task AJoiningNodeReceivesExactlyTheKeysRendezvousHashingAssignsIt()
    {
        if (!EtcdProcess.Installed) throw new InvalidOperationException("etcd-server is not installed (scripts/test.sh installs it)");
        using var cluster = await TestCluster.StartAsync(3);
        var ns = await DeclareEverywhereAsync(cluster.Members, "join");
        var items = Enumerable.Range(0, 120).Select(i => new KvItem(TestData.Key($"ckpt-{i}"), TestData.Value(1000 + i, 8_000 + i))).ToList();
        var keys = items.Select(i => i.Key.ToArray()).ToList();
        // Spread over the writers: a non-owner writer keeps no copy.
        for (int w = 0; w < 3; w++)
            Assert.All(await cluster.Members[w].Client.BatchPutAsync(ns, items.Where((_, i) => i % 3 == w).ToList()), r => Assert.Equal(2, r.Replicas));
        await TestCluster.WaitSettledAsync(cluster.Members);
        await AssertAtOwnersAsync(cluster.Members, ns, keys);
        var before = keys.Select(k => TestCluster.OwnersOf(ns, k, Three)).ToList();

        var n4 = await cluster.AddAsync("n4");
        await n4.Client.DeclareNamespaceAsync(ns.Descriptor!, TestCluster.Store);
        await TestCluster.WaitSettledAsync(cluster.Members);

        string[] four = ["n1", "n2", "n3", "n4"];
        var expected = keys.Select(k => TestCluster.OwnersOf(ns, k, four).Contains("n4")).ToArray();
        var held = await n4.HoldsAsync(ns, keys);
        Assert.Equal(expected, held);
        await AssertAtOwnersAsync(cluster.Members, ns, keys);

        // Only keys whose owner set changed moved: exactly those that n4 now owns, about replicas/N of them.
        int moved = keys.Select((k, i) => !TestCluster.OwnersOf(ns, k, four).SetEquals(before[i])).Count(c => c);
        Assert.Equal(expected.Count(e => e), moved);
        Assert.InRange(moved, keys.Count / 4, keys.Count * 3 / 4);

        // n4 serves every key: its own from itself, the rest from their owners.
        var got = await n4.Client.BatchGetAsync(ns, keys.Select(k => (ReadOnlyMemory<byte>)k).ToList());
        for (int i = 0; i < keys.Count; i++)
        {
            Assert.True(items[i].Value.Span.SequenceEqual(got[i].Value), $"key {i}: {got[i].Message}");
            Assert.Equal(expected[i] ? Rpc.Kv.V1.Tier.Ram : Rpc.Kv.V1.Tier.Peer, got[i].Tier);
        }
    }
}
