using System.Net;
using CheckpointCache.Engine.Options;

namespace CheckpointCache.Node.Options;

/// <summary>Checks the options together before anything opens, so a bad setting stops the node with a message naming it.</summary>
public static class OptionsValidation
{
    /// <summary>The longest Unix socket path Linux accepts (sun_path is 108 bytes with its terminating zero).</summary>
    public const int MaxUnixSocketPathBytes = 107;

    public static IReadOnlyList<string> Check(NodeOptions node, LimitsOptions limits, EngineOptions engine, string unixSocketPath)
    {
        var errors = new List<string>();
        if (node.ShutdownTimeout < TimeSpan.FromSeconds(1))
            errors.Add($"Node:ShutdownTimeout must be at least 1 second (is {node.ShutdownTimeout})");
        if (limits.MaxKeyBytes < 1)
            errors.Add($"Limits:MaxKeyBytes must be at least 1 (is {limits.MaxKeyBytes})");
        if (limits.MaxKeyBytes + NamespaceKey.PrefixBytes > engine.MaxKeyBytes)
            errors.Add($"Limits:MaxKeyBytes ({limits.MaxKeyBytes}) plus the {NamespaceKey.PrefixBytes}-byte namespace prefix exceeds Engine:MaxKeyBytes ({engine.MaxKeyBytes})");
        if (limits.MaxValueBytes.Bytes < 1 || limits.MaxValueBytes.Bytes > engine.MaxValueBytes.Bytes)
            errors.Add($"Limits:MaxValueBytes ({limits.MaxValueBytes}) must be between 1 and Engine:MaxValueBytes ({engine.MaxValueBytes})");
        if (limits.MaxBatchKeys < 1)
            errors.Add($"Limits:MaxBatchKeys must be at least 1 (is {limits.MaxBatchKeys})");
        if (limits.MaxBatchBytes.Bytes < limits.MaxValueBytes.Bytes)
            errors.Add($"Limits:MaxBatchBytes ({limits.MaxBatchBytes}) must be at least Limits:MaxValueBytes ({limits.MaxValueBytes})");
        if (limits.MaxNamespaces < 1)
            errors.Add($"Limits:MaxNamespaces must be at least 1 (is {limits.MaxNamespaces})");
        if (limits.MaxFrameBytes.Bytes < 4 * ByteSize.KiB || limits.MaxFrameBytes.Bytes > 16 * ByteSize.MiB)
            errors.Add($"Limits:MaxFrameBytes ({limits.MaxFrameBytes}) must be between 4KiB and 16MiB");
        if (limits.MaxReceiveMessageBytes.Bytes < limits.MaxFrameBytes.Bytes + limits.MaxKeyBytes + FrameOverheadBytes)
            errors.Add($"Limits:MaxReceiveMessageBytes ({limits.MaxReceiveMessageBytes}) must hold a frame of Limits:MaxFrameBytes ({limits.MaxFrameBytes}) plus a key and {FrameOverheadBytes} bytes of framing");
        if (limits.MaxReceiveMessageBytes.Bytes > int.MaxValue)
            errors.Add($"Limits:MaxReceiveMessageBytes ({limits.MaxReceiveMessageBytes}) must be below 2GiB");
        if (limits.MaxPinTtl < TimeSpan.Zero)
            errors.Add($"Limits:MaxPinTtl must not be negative (is {limits.MaxPinTtl})");

        if (!node.UnixSocketEnabled && string.IsNullOrWhiteSpace(node.TcpAddress))
            errors.Add("Node:UnixSocketEnabled is false and Node:TcpAddress is empty: the node would listen nowhere");
        if (node.UnixSocketEnabled && System.Text.Encoding.UTF8.GetByteCount(unixSocketPath) > MaxUnixSocketPathBytes)
            errors.Add($"Node:UnixSocketPath '{unixSocketPath}' is longer than the {MaxUnixSocketPathBytes} bytes a Unix socket path may have");
        if (node.UnixSocketEnabled && unixSocketPath.Length > 0 && DataSocket.DataSocketEndpoint.Resolve(node, unixSocketPath).Path is { } dataPath
            && System.Text.Encoding.UTF8.GetByteCount(dataPath) > MaxUnixSocketPathBytes)
            errors.Add($"Node:DataSocketPath '{dataPath}' is longer than the {MaxUnixSocketPathBytes} bytes a Unix socket path may have: set a shorter one, or Node:DataSocketEnabled=false");
        if (limits.MaxDataConnections < 1)
            errors.Add($"Limits:MaxDataConnections ({limits.MaxDataConnections}) must be at least 1");
        if (!string.IsNullOrWhiteSpace(node.TcpAddress))
        {
            if (!IPAddress.TryParse(node.TcpAddress, out var address) && node.TcpAddress != "localhost")
                errors.Add($"Node:TcpAddress '{node.TcpAddress}' is not an IP address");
            else if (node.TcpPort is < 0 or > 65535)
                errors.Add($"Node:TcpPort ({node.TcpPort}) must be between 0 and 65535");
            else if (!IsLoopback(node.TcpAddress) && !node.Tls.IsConfigured)
                errors.Add($"Node:TcpAddress '{node.TcpAddress}' is not a loopback address and no TLS certificate is configured (Node:Tls:CertificatePath): refusing to serve the cache unencrypted beyond this machine");
        }
        if (!string.IsNullOrWhiteSpace(node.MetricsAddress))
        {
            if (!IPAddress.TryParse(node.MetricsAddress, out _) && node.MetricsAddress != "localhost")
                errors.Add($"Node:MetricsAddress '{node.MetricsAddress}' is not an IP address");
            if (node.MetricsPort is < 0 or > 65535)
                errors.Add($"Node:MetricsPort ({node.MetricsPort}) must be between 0 and 65535");
            else if (node.MetricsPort != 0 && node.MetricsPort == node.TcpPort && node.MetricsAddress == node.TcpAddress)
                errors.Add($"Node:MetricsPort and Node:TcpPort are both {node.TcpPort}; the metrics listener needs a port of its own");
        }
        if (!node.MetricsPath.StartsWith('/'))
            errors.Add($"Node:MetricsPath '{node.MetricsPath}' must start with '/'");
        return errors;
    }

    /// <summary>Field tags, lengths and the namespace reference of a PutFrame besides its key and data.</summary>
    public const int FrameOverheadBytes = 1024;

    public static bool IsLoopback(string address)
        => address == "localhost" || (IPAddress.TryParse(address, out var ip) && IPAddress.IsLoopback(ip));
}
