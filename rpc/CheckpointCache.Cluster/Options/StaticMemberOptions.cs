namespace CheckpointCache.Cluster.Options;

/// <summary>One member of a static cluster.</summary>
public sealed class StaticMemberOptions
{
    public string Id { get; set; } = "";

    /// <summary>Peer endpoint, e.g. http://10.0.0.5:7402 (https:// with TLS).</summary>
    public string Peer { get; set; } = "";

    public Dictionary<string, string> Labels { get; set; } = new(StringComparer.Ordinal);
}
