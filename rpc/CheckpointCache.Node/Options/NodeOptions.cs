namespace CheckpointCache.Node.Options;

/// <summary>Where the node listens and what it calls itself; bound from the "Node" configuration section.</summary>
public sealed class NodeOptions
{
    public const string Section = "Node";

    /// <summary>Name reported by GetInfo; empty means the machine name.</summary>
    public string NodeId { get; set; } = "";

    /// <summary>Listen on a Unix domain socket for co-located clients (the fast path).</summary>
    public bool UnixSocketEnabled { get; set; } = true;

    /// <summary>Socket path; empty means "node.sock" in the engine's data directory (writable by whoever runs the node).</summary>
    public string UnixSocketPath { get; set; } = "";

    /// <summary>
    /// Serve BatchGet/BatchPut also on a data socket beside the Unix socket: plain frames instead of HTTP/2 and
    /// protobuf, for co-located clients moving large values (the .NET and Python clients use it when they find it).
    /// </summary>
    public bool DataSocketEnabled { get; set; } = true;

    /// <summary>Data socket path; empty means "&lt;name&gt;-data&lt;ext&gt;" beside the Unix socket (node-data.sock).</summary>
    public string DataSocketPath { get; set; } = "";

    /// <summary>TCP address to listen on; empty disables TCP. Anything but loopback needs <see cref="Tls"/>.</summary>
    public string TcpAddress { get; set; } = "127.0.0.1";

    /// <summary>TCP port; 0 lets the operating system choose a free one (the chosen port is logged and reported by GetInfo).</summary>
    public int TcpPort { get; set; } = 7400;

    /// <summary>
    /// Address of the Prometheus listener (plain HTTP/1.1, which scrapers speak; the gRPC listeners are
    /// HTTP/2 only because cleartext HTTP/2 cannot share a port with HTTP/1.1). Empty disables it.
    /// </summary>
    public string MetricsAddress { get; set; } = "127.0.0.1";

    /// <summary>Port of the Prometheus listener; 0 lets the operating system choose.</summary>
    public int MetricsPort { get; set; } = 7401;

    /// <summary>Path of the Prometheus scrape endpoint.</summary>
    public string MetricsPath { get; set; } = "/metrics";

    public TlsOptions Tls { get; set; } = new();

    /// <summary>
    /// On SIGTERM the node drains (refuses new writes, finishes in-flight ones, flushes, commits, leaves the
    /// cluster) and exits within this time; the same bound applies to the steps of a `drain` call. systemd's
    /// TimeoutStopSec and Kubernetes' terminationGracePeriodSeconds must be longer.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>KV namespaces declared by configuration rather than by clients.</summary>
    public List<DeclaredNamespaceOptions> Namespaces { get; set; } = [];
}
