namespace CheckpointCache.Client.DataSocket;

/// <summary>The node's default data-socket path, which a client derives from the gRPC socket it was given.</summary>
public static class DataSocketPaths
{
    /// <summary>"/run/cc/node.sock" gives "/run/cc/node-data.sock".</summary>
    public static string Beside(string grpcSocketPath)
    {
        var directory = Path.GetDirectoryName(grpcSocketPath) ?? "";
        var name = Path.GetFileNameWithoutExtension(grpcSocketPath) + "-data" + Path.GetExtension(grpcSocketPath);
        return Path.Combine(directory, name);
    }
}
