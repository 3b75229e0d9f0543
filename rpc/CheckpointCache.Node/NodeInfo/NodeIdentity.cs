using System.Reflection;

namespace CheckpointCache.Node;

/// <summary>What this running node is and where it can be reached; endpoints are known only once Kestrel has bound.</summary>
public sealed class NodeIdentity(string nodeId, string dataDirectory, DateTimeOffset startedAt)
{
    public string NodeId { get; } = nodeId;
    public string DataDirectory { get; } = dataDirectory;
    public DateTimeOffset StartedAt { get; } = startedAt;
    public IReadOnlyList<string> Endpoints { get; set; } = [];
    public string? MetricsUrl { get; set; }
    /// <summary>Path of the data socket, when it listens.</summary>
    public string? DataSocket { get; set; }
    public TimeSpan Uptime => DateTimeOffset.UtcNow - StartedAt;

    public static string Version { get; } =
        typeof(NodeIdentity).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
}
