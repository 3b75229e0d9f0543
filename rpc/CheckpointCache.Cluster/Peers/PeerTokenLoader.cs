using CheckpointCache.Cluster.Options;

namespace CheckpointCache.Cluster;

/// <summary>Reads the shared peer token from configuration or from its file.</summary>
public static class PeerTokenLoader
{
    public static string Load(ClusterOptions options)
    {
        if (!string.IsNullOrEmpty(options.PeerToken)) return options.PeerToken;
        if (string.IsNullOrWhiteSpace(options.PeerTokenFile) || !File.Exists(options.PeerTokenFile)) return "";
        return File.ReadLines(options.PeerTokenFile).FirstOrDefault()?.Trim() ?? "";
    }
}
