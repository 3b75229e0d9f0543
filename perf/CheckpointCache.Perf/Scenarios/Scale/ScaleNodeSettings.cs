using System.Globalization;

namespace CheckpointCache.Perf.Scenarios.Scale;

/// <summary>
/// The configuration every node of one cluster size shares: tiny budgets, the hashed KV store "ckpt" with
/// <see cref="Replicas"/> copies, the files store written back to one Azurite container, etcd membership.
/// </summary>
internal sealed record ScaleNodeSettings(string EtcdUrl, string EtcdPrefix, TimeSpan LeaseTtl, int Replicas, string BlobConnectionString, string Container)
{
    private static string Span(TimeSpan t) => t.ToString("c", CultureInfo.InvariantCulture);

    public IEnumerable<string> Arguments(string id, string dataDirectory, string socket)
    {
        var settings = new Dictionary<string, string>
        {
            // A host watches its configuration files with one inotify instance each; the user's limit is 128.
            ["hostBuilder:reloadConfigOnChange"] = "false",
            ["Node:NodeId"] = id,
            ["Node:UnixSocketPath"] = socket,
            // Clients use the Unix socket; peers have the peer listener. No client TCP port, no metrics port.
            ["Node:TcpAddress"] = "",
            ["Node:MetricsAddress"] = "",
            ["Engine:DataDirectory"] = dataDirectory,
            ["Engine:DirectIo"] = "false",
            ["Engine:IoThreads"] = "1",
            ["Engine:CheckpointInterval"] = "01:00:00",
            ["Engine:EvictionInterval"] = "00:00:10",
            ["Cluster:Enabled"] = "true",
            ["Cluster:Membership"] = "Etcd",
            ["Cluster:Etcd:Endpoints"] = EtcdUrl,
            ["Cluster:Etcd:Prefix"] = EtcdPrefix,
            ["Cluster:Etcd:LeaseTtl"] = Span(LeaseTtl),
            ["Cluster:PeerAddress"] = "127.0.0.1",
            ["Cluster:PeerPort"] = "0",
            ["Cluster:PeerToken"] = ScaleNode.PeerToken,
            [$"Cluster:Stores:{ScaleNode.KvStore}:Placement"] = "Hashed",
            [$"Cluster:Stores:{ScaleNode.KvStore}:Replicas"] = Replicas.ToString(CultureInfo.InvariantCulture),
            ["Cluster:RebalanceDelay"] = "00:00:00.200",
            ["Cluster:RebalanceRetryDelay"] = "00:00:01",
            ["Cloud:Enabled"] = "true",
            ["Cloud:ConnectionString"] = BlobConnectionString,
            ["Cloud:Container"] = Container,
            ["Cloud:Mode"] = "Writeback",
        };
        // Both stores tiny: 1 MiB of RAM each, 64 MiB of disk; the KV store keeps every copy (not evictable), so the
        // rebalancing figures count every key written.
        foreach (var (store, kind) in new[] { (ScaleNode.KvStore, "Kv"), ("files", "Files") })
        {
            settings[$"Engine:Namespaces:{store}:Kind"] = kind;
            settings[$"Engine:Namespaces:{store}:Evictable"] = "false";
            settings[$"Engine:Namespaces:{store}:RamBytes"] = "1MiB";
            settings[$"Engine:Namespaces:{store}:PageBytes"] = "256KiB";
            settings[$"Engine:Namespaces:{store}:ChunkBytes"] = "127KiB";
            settings[$"Engine:Namespaces:{store}:SegmentBytes"] = "1MiB";
            settings[$"Engine:Namespaces:{store}:SsdBytes"] = "64MiB";
            settings[$"Engine:Namespaces:{store}:ReadHintBytes"] = "64KiB";
            settings[$"Engine:Namespaces:{store}:IndexBuckets"] = "1024";
        }
        return settings.Select(s => $"--{s.Key}={s.Value}");
    }
}
