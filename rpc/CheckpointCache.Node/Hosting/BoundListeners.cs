using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace CheckpointCache.Node.Hosting;

/// <summary>The listeners a node configured, read back after start to learn ports chosen by the operating system.</summary>
internal sealed class BoundListeners
{
    public string? UnixSocket { get; set; }
    public ListenOptions? Tcp { get; set; }
    public ListenOptions? Metrics { get; set; }
    public ListenOptions? Peer { get; set; }

    public int? PeerPort => Peer?.IPEndPoint?.Port;

    /// <summary>The peer endpoint other members dial: the advertised address (or the bound one) and the bound port.</summary>
    public string? PeerUrl(bool tls, string advertiseAddress)
    {
        if (Peer?.IPEndPoint is not { } ep) return null;
        var host = string.IsNullOrWhiteSpace(advertiseAddress) ? ep.Address.ToString() : advertiseAddress;
        if (host.Contains(':') && !host.StartsWith('[')) host = $"[{host}]";
        return $"{(tls ? "https" : "http")}://{host}:{ep.Port}";
    }

    /// <summary>The endpoints in the form clients and the CLI accept: unix:/path and http://address:port.</summary>
    public IReadOnlyList<string> GrpcEndpoints(bool tls)
    {
        var endpoints = new List<string>();
        if (UnixSocket is not null) endpoints.Add("unix:" + UnixSocket);
        if (Tcp?.IPEndPoint is { } tcp) endpoints.Add($"{(tls ? "https" : "http")}://{tcp}");
        return endpoints;
    }

    public string? MetricsUrl(string path) => Metrics?.IPEndPoint is { } ep ? $"http://{ep}{path}" : null;
}
