using CheckpointCache.Cluster.Options;
using CheckpointCache.Node.Hosting;
using CheckpointCache.Node.Tests.Infrastructure;
using CheckpointCache.Rpc.Peer.V1;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace CheckpointCache.Node.Tests.Cluster;

/// <summary>The peer service: its own port, the shared token, and the refusal to listen beyond loopback unauthenticated.</summary>
public sealed class PeerSecurityTests
{
    private static Task<TestNode> StartStaticNodeAsync(string token) => TestNode.StartAsync(s =>
    {
        s["Node:NodeId"] = "solo";
        s["Cluster:Enabled"] = "true";
        s["Cluster:Membership"] = "Static";
        s["Cluster:StaticMembers:0:Id"] = "solo";
        s["Cluster:StaticMembers:0:Peer"] = "http://127.0.0.1:1"; // this node never calls itself
        s["Cluster:PeerPort"] = "0";
        s["Cluster:PeerToken"] = token;
        s["Cluster:Stores:kv:Placement"] = "Hashed";
        s["Cluster:Stores:kv:Replicas"] = "1";
    });

    private static PeerKeysRequest Has() => new() { Store = "kv", Keys = { ByteString.CopyFromUtf8("k") } };

    [Fact]
    public async Task PeerCallsWithoutTheTokenAreRefused()
    {
        await using var node = await StartStaticNodeAsync("s3cret-token");
        var peerUrl = node.App.Cluster.PeerEndpoint!;
        using var channel = GrpcChannel.ForAddress(peerUrl);
        var peer = new Peer.PeerClient(channel);

        var none = await Assert.ThrowsAsync<RpcException>(() => peer.HasAsync(Has()).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, none.StatusCode);
        var wrong = await Assert.ThrowsAsync<RpcException>(() => peer.HasAsync(Has(), new Metadata { { "authorization", "Bearer guess" } }).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, wrong.StatusCode);
        using (var call = peer.Replicate())
        {
            try
            {
                await call.RequestStream.WriteAsync(new ReplicateFrame { Store = "kv", Key = ByteString.CopyFromUtf8("k"), NewItem = true, TotalLength = 1, Data = ByteString.CopyFromUtf8("x") });
                await call.RequestStream.CompleteAsync();
            }
            catch (Exception e) when (e is RpcException or InvalidOperationException)
            {
                // The node may refuse the call before the frame went out; the status below says why.
            }
            var streamed = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
            Assert.Equal(StatusCode.Unauthenticated, streamed.StatusCode);
        }

        var ok = await peer.HasAsync(Has(), new Metadata { { "authorization", "Bearer s3cret-token" } });
        Assert.Equal([false], ok.Held);

        // The calls of replicated files stores are guarded alike; a store this node does not replicate is named.
        var files = new ListFilesRequest { Store = "files", Directory = "/" };
        Assert.Equal(StatusCode.Unauthenticated, (await Assert.ThrowsAsync<RpcException>(() => peer.ListFilesAsync(files).ResponseAsync)).StatusCode);
        var notReplicated = await Assert.ThrowsAsync<RpcException>(() => peer.ListFilesAsync(files, new Metadata { { "authorization", "Bearer s3cret-token" } }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, notReplicated.StatusCode);
        Assert.Contains("'files'", notReplicated.Status.Detail, StringComparison.Ordinal);

        // The peer service is not on the client port, and the client API is not on the peer port.
        using var clientChannel = GrpcChannel.ForAddress(node.TcpEndpoint);
        var onClientPort = await Assert.ThrowsAsync<RpcException>(() =>
            new Peer.PeerClient(clientChannel).HasAsync(Has(), new Metadata { { "authorization", "Bearer s3cret-token" } }).ResponseAsync);
        Assert.NotEqual(StatusCode.OK, onClientPort.StatusCode);
        var onPeerPort = await Assert.ThrowsAsync<RpcException>(() => new Rpc.Node.V1.Node.NodeClient(channel).GetInfoAsync(new Rpc.Node.V1.GetInfoRequest()).ResponseAsync);
        Assert.NotEqual(StatusCode.OK, onPeerPort.StatusCode);
    }

    [Fact]
    public async Task APeerListenerBeyondLoopbackNeedsATokenAndTls()
    {
        var e = await Assert.ThrowsAsync<NodeConfigurationException>(() => TestNode.StartAsync(s =>
        {
            s["Node:NodeId"] = "exposed";
            s["Cluster:Enabled"] = "true";
            s["Cluster:Membership"] = "Static";
            s["Cluster:StaticMembers:0:Id"] = "exposed";
            s["Cluster:StaticMembers:0:Peer"] = "http://10.0.0.5:7402";
            s["Cluster:PeerAddress"] = "0.0.0.0";
            s["Cluster:AdvertiseAddress"] = "10.0.0.5";
        }));
        Assert.Contains(e.Errors, m => m.Contains("Cluster:PeerToken", StringComparison.Ordinal));
        Assert.Contains(e.Errors, m => m.Contains("TLS", StringComparison.Ordinal));
    }

    [Fact]
    public void ReplicasNeedHashedPlacementAndAConfiguredKvStore()
    {
        var options = new ClusterOptions
        {
            Enabled = true,
            Membership = MembershipKind.Static,
            StaticMembers = { new StaticMemberOptions { Id = "a", Peer = "http://127.0.0.1:7402" } },
            Stores =
            {
                ["kv"] = new StorePlacementOptions { Replicas = 2 },
                ["nope"] = new StorePlacementOptions { Placement = PlacementKind.Hashed },
                ["files"] = new StorePlacementOptions { Placement = PlacementKind.Hashed, Replicas = 1 },
            },
        };
        var stores = new Dictionary<string, Engine.NamespaceKind> { ["kv"] = Engine.NamespaceKind.Kv, ["files"] = Engine.NamespaceKind.Files };
        var errors = ClusterOptionsValidation.Check(options, stores, tlsConfigured: false, nodeId: "a");
        Assert.Contains(errors, m => m.Contains("needs Placement Hashed", StringComparison.Ordinal));
        Assert.Contains(errors, m => m.Contains("'nope'", StringComparison.Ordinal));
        Assert.Contains(errors, m => m.Contains("kind files with Placement Hashed needs Replicas of at least 2", StringComparison.Ordinal));

        // A files store replicated by directory is accepted.
        options.Stores.Clear();
        options.Stores["files"] = new StorePlacementOptions { Placement = PlacementKind.Hashed, Replicas = 2 };
        Assert.Empty(ClusterOptionsValidation.Check(options, stores, tlsConfigured: false, nodeId: "a"));
    }
}
