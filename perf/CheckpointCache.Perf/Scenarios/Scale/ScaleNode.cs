using CheckpointCache.Client;
using CheckpointCache.Client.Files;
using CheckpointCache.Cluster;
using CheckpointCache.Cluster.Membership;
using CheckpointCache.Engine.Files;
using CheckpointCache.Node.Files;
using CheckpointCache.Node.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Perf.Scenarios.Scale;

/// <summary>
/// One node of the scale study: the real node host (engine with tiny budgets, files store with the cloud tier in
/// writeback mode, cluster layer with its own etcd connection and request counter, peer gRPC listener on its own
/// loopback port), several of them in this process. Clients reach it on its Unix socket, peers on its peer port.
/// </summary>
internal sealed class ScaleNode : IAsyncDisposable
{
    public const string KvStore = "ckpt";
    public const string PeerToken = "scale-peer-token";

    private readonly NodeApplication _app;
    private bool _stopped;

    private ScaleNode(string id, NodeApplication app, CacheClient client)
    {
        Id = id;
        _app = app;
        Client = client;
        Files = new FilesClient(client, new FilesClientOptions { StreamTimeout = TimeSpan.FromMinutes(5) });
        ColdTier = app.Services.GetRequiredService<FileTreeRegistry>().ColdTier;
    }

    public string Id { get; }
    public ClusterNode Cluster => _app.Cluster;
    public EtcdRequestCounter Etcd => Cluster.EtcdRequests;
    public CacheClient Client { get; }
    public FilesClient Files { get; }
    private IColdTier? ColdTier { get; }

    /// <summary>Every request this node sent to Blob and the bytes each way (the cloud tier's own counter).</summary>
    public ColdTierStats Blob => ColdTier?.GetStats() ?? new ColdTierStats(new Dictionary<string, long>(), 0, 0);

    public static async Task<ScaleNode> StartAsync(string id, string dataDirectory, ScaleNodeSettings settings, ILoggerFactory loggerFactory, CancellationToken ct)
    {
        Directory.CreateDirectory(dataDirectory);
        var socket = Path.Combine(dataDirectory, "n.sock");
        var app = await NodeApplication.StartAsync(settings.Arguments(id, dataDirectory, socket).ToArray(), new NodeStartOptions
        {
            // The report is stdout: the nodes' log lines go where the perf tool's own go (stderr, warnings and up).
            ConfigureLogging = b => { b.ClearProviders(); b.AddProvider(new ForwardingLoggerProvider(loggerFactory)); },
        }, ct);
        return new ScaleNode(id, app, CacheClient.Connect("unix:" + socket));
    }

    /// <summary>Stops as kill -9 would, as far as etcd can tell: the lease is left to expire, then the host goes away.</summary>
    public async Task CrashAsync()
    {
        if (Cluster.Membership is EtcdMembership etcd) await etcd.CrashAsync();
        await DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopped) return;
        _stopped = true;
        Files.Dispose();
        Client.Dispose();
        await _app.DisposeAsync();
    }

    public override string ToString() => Id;
}
