namespace CheckpointCache.Cluster.Options;

/// <summary>The etcd cluster used for membership (Cluster:Etcd).</summary>
public sealed class EtcdOptions
{
    /// <summary>Comma-separated client URLs; the node moves to the next one when a call fails.</summary>
    public string Endpoints { get; set; } = "http://127.0.0.1:2379";

    /// <summary>Key prefix of this cluster; members live under &lt;Prefix&gt;members/&lt;id&gt;.</summary>
    public string Prefix { get; set; } = "/checkpointcache/default/";

    /// <summary>Lease time to live: a node that stops keeping its lease alive leaves after this long.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Keep-alives per lease TTL (one message on one stream each time).</summary>
    public int KeepAlivesPerTtl { get; set; } = 3;

    /// <summary>Deadline of one unary etcd call.</summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>First wait before reconnecting after etcd failed; doubles up to <see cref="MaxBackoff"/>, jittered.</summary>
    public TimeSpan MinBackoff { get; set; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Members per Range request when listing (a node lists once at start and after each reconnect).</summary>
    public int ListPageSize { get; set; } = 1000;

    public IReadOnlyList<string> EndpointList()
        => Endpoints.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
