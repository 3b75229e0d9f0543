using CheckpointCache.Client;
using CheckpointCache.Cluster.Membership;
using CheckpointCache.Cluster.Placement;
using CheckpointCache.Node.Tests.Infrastructure;

namespace CheckpointCache.Node.Tests.Cluster;

/// <summary>
/// Several node processes on loopback around one real etcd. Store "ckpt" is hashed with 2 replicas, the files
/// store "files" is replicated by directory with 2; "kv" stays local. Leases are short (5 s) so failures are noticed quickly; nothing asserts on time.
/// </summary>
public sealed class TestCluster : IDisposable
{
    public const string Store = "ckpt";
    public const int Replicas = 2;
    public const string Token = "test-peer-token";

    private readonly List<TestDirectory> _dirs = [];
    private readonly string _prefix = $"/ccache-test-{Guid.NewGuid():N}/";

    private TestCluster(EtcdProcess etcd) => Etcd = etcd;

    public EtcdProcess Etcd { get; }
    public List<ClusterMember> Members { get; } = [];

    public ClusterMember this[string id] => Members.Single(m => m.Id == id);

    public static async Task<TestCluster> StartAsync(int nodes)
    {
        var cluster = new TestCluster(await EtcdProcess.StartAsync());
        try
        {
            // Started together: each start is mostly process and runtime start-up, which overlaps well.
            var starts = Enumerable.Range(1, nodes).Select(i => cluster.StartMemberAsync($"n{i}")).ToList();
            try
            {
                await Task.WhenAll(starts);
            }
            finally
            {
                // Whatever started is owned by the cluster, so a failed start still stops the others.
                cluster.Members.AddRange(starts.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
            }
            await WaitSettledAsync(cluster.Members);
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    public Dictionary<string, string> SettingsFor(string id, TestDirectory dir)
    {
        var s = TestSettings.For(dir.Path);
        s["Node:NodeId"] = id;
        s["Engine:Namespaces:ckpt:Kind"] = "Kv";
        s["Engine:Namespaces:ckpt:Evictable"] = "false";
        s["Engine:Namespaces:ckpt:RamBytes"] = "16MiB";
        s["Engine:Namespaces:ckpt:SsdBytes"] = "256MiB";
        s["Engine:Namespaces:ckpt:PageBytes"] = "4MiB";
        s["Engine:Namespaces:ckpt:ChunkBytes"] = (1024 * 1024 - 1024).ToString();
        s["Engine:Namespaces:ckpt:SegmentBytes"] = "16MiB";
        s["Cluster:Enabled"] = "true";
        s["Cluster:Membership"] = "Etcd";
        s["Cluster:Etcd:Endpoints"] = Etcd.ClientUrl;
        s["Cluster:Etcd:Prefix"] = _prefix;
        s["Cluster:Etcd:LeaseTtl"] = "00:00:05"; // short, so failures are seen soon; long enough for a starved test machine
        s["Cluster:Etcd:MaxBackoff"] = "00:00:01";
        s["Cluster:PeerPort"] = "0";
        s["Cluster:PeerToken"] = Token;
        s["Cluster:Stores:ckpt:Placement"] = "Hashed";
        s["Cluster:Stores:ckpt:Replicas"] = Replicas.ToString();
        // The files store of TestSettings is replicated by directory.
        s["Cluster:Stores:files:Placement"] = "Hashed";
        s["Cluster:Stores:files:Replicas"] = Replicas.ToString();
        s["Cluster:RebalanceDelay"] = "00:00:00.200";
        s["Cluster:RebalanceRetryDelay"] = "00:00:00.300";
        // The harness waits for the line saying where the node listens; cluster decisions help when a test fails.
        s["Logging:LogLevel:CheckpointCache.Node"] = "Information";
        s["Logging:LogLevel:CheckpointCache.Cluster"] = "Information";
        return s;
    }

    public async Task<ClusterMember> AddAsync(string id)
    {
        var member = await StartMemberAsync(id);
        Members.Add(member);
        return member;
    }

    private Task<ClusterMember> StartMemberAsync(string id)
    {
        var dir = new TestDirectory();
        lock (_dirs) _dirs.Add(dir);
        return ClusterMember.StartAsync(id, dir, SettingsFor(id, dir));
    }

    /// <summary>Waits until every listed member sees exactly the listed members and its last rebalance pass settled every key.</summary>
    public static async Task WaitSettledAsync(IReadOnlyCollection<ClusterMember> live)
    {
        var ids = live.Select(m => m.Id).OrderBy(i => i, StringComparer.Ordinal).ToList();
        await Eventually.UntilAsync(async () =>
        {
            foreach (var m in live)
            {
                var stats = await m.StatsAsync();
                if (!stats.Members.SequenceEqual(ids) || !stats.RebalanceSettled) return false;
            }
            return true;
        }, $"members {string.Join(",", ids)} to agree and settle");
    }

    /// <summary>The owners rendezvous hashing assigns to a client key of <paramref name="ns"/> among <paramref name="ids"/>.</summary>
    public static HashSet<string> OwnersOf(KvNamespace ns, byte[] key, IEnumerable<string> ids)
    {
        var view = new MemberView(1, ids.Select(id => new Member(id, "http://unused", new Dictionary<string, string>())));
        return RendezvousPlacement.Owners(NamespaceKey.Compose(ns.Id, key), view, Replicas).Select(m => m.Id).ToHashSet();
    }

    /// <summary>Which members hold each key, by asking each of them about its own store.</summary>
    public static async Task<List<HashSet<string>>> HoldersAsync(IEnumerable<ClusterMember> members, KvNamespace ns, IReadOnlyList<byte[]> keys)
    {
        var holders = keys.Select(_ => new HashSet<string>()).ToList();
        foreach (var m in members)
        {
            var held = await m.HoldsAsync(ns, keys);
            for (int i = 0; i < keys.Count; i++) if (held[i]) holders[i].Add(m.Id);
        }
        return holders;
    }

    public void Dispose()
    {
        foreach (var m in Members) m.Dispose();
        Etcd.Dispose();
        foreach (var d in _dirs) d.Dispose();
    }
}
