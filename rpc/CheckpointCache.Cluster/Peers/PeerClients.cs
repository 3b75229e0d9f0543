using System.Collections.Concurrent;
using CheckpointCache.Rpc.Peer.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace CheckpointCache.Cluster.Peers;

/// <summary>One HTTP/2 channel per peer endpoint, reused by every call, each call carrying the shared token.</summary>
public sealed class PeerClients(PeerToken token, TimeSpan callTimeout) : IDisposable
{
    private readonly ConcurrentDictionary<string, (GrpcChannel Channel, Peer.PeerClient Client)> _peers = new(StringComparer.Ordinal);

    public Peer.PeerClient For(string endpoint)
        => _peers.GetOrAdd(endpoint, static e =>
        {
            var channel = GrpcChannel.ForAddress(e, new GrpcChannelOptions
            {
                HttpHandler = new SocketsHttpHandler
                {
                    EnableMultipleHttp2Connections = true,
                    InitialHttp2StreamWindowSize = 16 * 1024 * 1024,
                    ConnectTimeout = TimeSpan.FromSeconds(5),
                    KeepAlivePingDelay = TimeSpan.FromSeconds(10),
                    KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
                },
                MaxReceiveMessageSize = PeerService.FrameBytes + 64 * 1024,
            });
            return (channel, new Peer.PeerClient(channel));
        }).Client;

    public CallOptions Call(CancellationToken ct, TimeSpan? timeout = null)
    {
        var headers = new Metadata();
        if (token.Value.Length > 0) headers.Add(PeerAuthInterceptor.Header, "Bearer " + token.Value);
        return new CallOptions(headers, DateTime.UtcNow + (timeout ?? callTimeout), ct);
    }

    public void Dispose()
    {
        foreach (var (channel, _) in _peers.Values) channel.Dispose();
        _peers.Clear();
    }
}
