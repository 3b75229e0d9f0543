namespace CheckpointCache.Node.DataSocket;

/// <summary>Where the data socket listens; null when it is off (no Unix socket, or Node:DataSocketEnabled false).</summary>
public sealed record DataSocketEndpoint(string? Path)
{
    /// <summary>Node:DataSocketPath, or "&lt;name&gt;-data&lt;ext&gt;" beside the gRPC socket, so clients can find it from the gRPC socket's path.</summary>
    public static DataSocketEndpoint Resolve(Options.NodeOptions node, string? grpcSocketPath)
    {
        if (!node.DataSocketEnabled || grpcSocketPath is null) return new DataSocketEndpoint((string?)null);
        if (!string.IsNullOrWhiteSpace(node.DataSocketPath)) return new DataSocketEndpoint(System.IO.Path.GetFullPath(node.DataSocketPath));
        return new DataSocketEndpoint(Client.DataSocket.DataSocketPaths.Beside(grpcSocketPath));
    }
}
