using System.Net.Sockets;

namespace CheckpointCache.Client;

/// <summary>
/// Where a node listens, as the CLI and clients write it: "unix:/path/node.sock" (co-located, fastest)
/// or "http://127.0.0.1:7400" (TCP; https:// when the node has TLS).
/// </summary>
public sealed record NodeEndpoint(Uri? Address, string? UnixSocketPath)
{
    public static NodeEndpoint Parse(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        if (text.StartsWith("unix:", StringComparison.Ordinal))
        {
            var path = text["unix:".Length..];
            if (path.StartsWith("//", StringComparison.Ordinal)) path = path[2..]; // unix:///run/x.sock
            if (path.Length == 0) throw new FormatException($"'{text}' names no socket path");
            return new NodeEndpoint(null, path);
        }
        if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
            return new NodeEndpoint(uri, null);
        throw new FormatException($"'{text}' is not an endpoint; write unix:/path/to/node.sock or http://127.0.0.1:7400");
    }

    public bool IsUnixSocket => UnixSocketPath is not null;

    /// <summary>Opens the Unix socket for the HTTP/2 connection.</summary>
    internal async ValueTask<Stream> ConnectUnixSocketAsync(CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(UnixSocketPath!), cancellationToken);
            return new ReadAheadStream(new NetworkStream(socket, ownsSocket: true));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Opens a TCP connection (no Nagle delay) for the HTTP/2 connection; TLS, when asked, goes on top.</summary>
    public static async ValueTask<Stream> ConnectTcpAsync(System.Net.DnsEndPoint endPoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken);
            return new ReadAheadStream(new NetworkStream(socket, ownsSocket: true));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public override string ToString() => IsUnixSocket ? "unix:" + UnixSocketPath : Address!.ToString();
}
