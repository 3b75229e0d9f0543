using CheckpointCache.Client;
using CheckpointCache.Node.Tests.Infrastructure;
using CheckpointCache.Rpc.Kv.V1;
using CheckpointCache.Rpc.Node.V1;

namespace CheckpointCache.Node.Tests.Cluster;

/// <summary>One node process of a test cluster, restartable on its own data directory.</summary>
public sealed class ClusterMember : IDisposable
{
    private readonly Dictionary<string, string> _settings;

    private ClusterMember(string id, TestDirectory dir, Dictionary<string, string> settings)
    {
        Id = id;
        Directory = dir;
        _settings = settings;
    }

    public string Id { get; }
    public TestDirectory Directory { get; }
    public NodeProcess Process { get; private set; } = null!;
    public CacheClient Client { get; private set; } = null!;

    public static async Task<ClusterMember> StartAsync(string id, TestDirectory dir, Dictionary<string, string> settings)
    {
        var member = new ClusterMember(id, dir, settings);
        await member.StartAgainAsync();
        return member;
    }

    /// <summary>Starts the node (again) on the same data directory and settings.</summary>
    public async Task StartAgainAsync()
    {
        Client?.Dispose();
        Process?.Dispose();
        Process = await NodeProcess.StartAsync(TestSettings.Args(_settings));
        Client = CacheClient.Connect(Process.UnixEndpoint);
    }

    public async Task<ClusterStats> StatsAsync() => (await Client.GetStatsAsync()).Cluster;

    /// <summary>Whether this node holds each key itself (Exists is answered from the local store only).</summary>
    public async Task<bool[]> HoldsAsync(KvNamespace ns, IReadOnlyList<byte[]> keys)
    {
        var tiers = await Client.ExistsAsync(ns, keys.Select(k => (ReadOnlyMemory<byte>)k).ToList());
        return tiers.Select(t => t != Tier.None).ToArray();
    }

    public void Dispose()
    {
        Client?.Dispose();
        Process?.Dispose();
    }
}
