using CheckpointCache.Cluster;
using CheckpointCache.Cluster.Membership;
using CheckpointCache.Cluster.Options;
using CheckpointCache.Engine;
using CheckpointCache.Engine.Options;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Perf.Scenarios.Scale;

/// <summary>
/// One node of the scale study, in process: a real engine with tiny budgets and the real cluster layer
/// (etcd membership, rendezvous placement, rebalancer) with its own connection to etcd and its own request
/// counter. It has no listeners: the study counts what nodes send to etcd (and Blob), which the data path
/// never does.
/// </summary>
internal sealed class ScaleNode : IAsyncDisposable
{
    private readonly ICacheEngine _engine;

    private ScaleNode(string id, ICacheEngine engine, ClusterNode cluster)
    {
        Id = id;
        _engine = engine;
        Cluster = cluster;
    }

    public string Id { get; }
    public ClusterNode Cluster { get; }
    public EtcdRequestCounter Etcd => Cluster.EtcdRequests;
    public bool Crashed { get; private set; }

    public static async Task<ScaleNode> StartAsync(string id, string dataDirectory, ClusterOptions cluster, ILoggerFactory loggerFactory, CancellationToken ct)
    {
        var engine = await CacheEngine.OpenAsync(new EngineOptions
        {
            DataDirectory = dataDirectory,
            DirectIo = false,
            MaxKeyBytes = 64,
            MaxValueBytes = new ByteSize(64 * ByteSize.KiB),
            CheckpointInterval = TimeSpan.FromHours(1),
            EvictionInterval = TimeSpan.FromSeconds(10),
            Namespaces =
            {
                ["ckpt"] = new NamespaceOptions
                {
                    Kind = NamespaceKind.Kv,
                    Evictable = false,
                    PageBytes = new ByteSize(8 * ByteSize.KiB),
                    RamBytes = new ByteSize(32 * ByteSize.KiB),
                    SegmentBytes = new ByteSize(64 * ByteSize.KiB),
                    SsdBytes = ByteSize.FromMiB(1),
                    ChunkBytes = new ByteSize(4 * ByteSize.KiB),
                    ReadHintBytes = new ByteSize(4 * ByteSize.KiB),
                    IndexBuckets = 64,
                },
            },
        }, loggerFactory, ct);
        var node = new ClusterNode(cluster, engine, id, loggerFactory);
        try
        {
            // Nobody dials it: no key is ever placed, so no peer call is made.
            await node.StartAsync($"http://127.0.0.1:1/{id}", ct);
        }
        catch
        {
            await node.DisposeAsync();
            await engine.DisposeAsync();
            throw;
        }
        return new ScaleNode(id, engine, node);
    }

    /// <summary>Stops as kill -9 would, as far as etcd can tell: the lease is left to expire.</summary>
    public async Task CrashAsync()
    {
        Crashed = true;
        if (Cluster.Membership is EtcdMembership etcd) await etcd.CrashAsync();
        await Cluster.DisposeAsync();
        await _engine.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (Crashed) return;
        await Cluster.DisposeAsync();
        await _engine.DisposeAsync();
    }
}
