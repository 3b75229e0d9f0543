using CheckpointCache.Client;
using CheckpointCache.Client.DataSocket;
using CheckpointCache.Node.Lifecycle;
using CheckpointCache.Node.Tests.Infrastructure;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;

namespace CheckpointCache.Node.Tests.DataSocket;

/// <summary>The data socket under the node's own limits and lifecycle: its connection limit, a drain, a node without it.</summary>
public sealed class DataSocketLifecycleTests
{
    [Fact]
    public async Task ConnectionsPastTheLimitAreRefusedNamingItAndTheOthersStillWork()
    {
        await using var node = await TestNode.StartAsync(s => s["Limits:MaxDataConnections"] = "1");
        using var client = node.Connect();
        var ns = await TestData.DeclareAsync(client, "data-connections");
        var path = (await client.GetInfoAsync()).DataSocket;
        using var holder = await WireConnection.ConnectAsync(path, CancellationToken.None);
        // The holder is accepted (and counted) once the node has read from it: make it serve one call first.
        await holder.WriteRequestHeaderAsync(DataWire.OpGet, ns.ToRef().ToByteArray(), 0, CancellationToken.None);
        await holder.FlushAsync(CancellationToken.None);
        Assert.Equal(DataWire.ResponseMagic, await holder.ReadUInt32Async(CancellationToken.None));

        var e = await Assert.ThrowsAsync<RpcException>(() => client.BatchPutAsync(ns, [new(TestData.Key("k"), TestData.Value(1, 100))]));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("Limits:MaxDataConnections", e.Status.Detail);
        // gRPC is not limited by it.
        using var grpc = node.Connect(options: new CacheClientOptions { UseDataSocket = false });
        Assert.True((await grpc.BatchPutAsync(ns, [new(TestData.Key("k"), TestData.Value(1, 100))]))[0].Ok);
    }

    [Fact]
    public async Task ADrainingNodeRefusesDataSocketPutsAsUnavailableAndStillServesGets()
    {
        await using var node = await TestNode.StartAsync();
        using var client = node.Connect();
        var ns = await TestData.DeclareAsync(client, "data-drain");
        var value = TestData.Value(2, 500_000);
        Assert.True((await client.BatchPutAsync(ns, [new(TestData.Key("before"), value)]))[0].Ok);

        var drain = await node.App.Services.GetRequiredService<NodeLifecycle>().DrainAsync("test");
        Assert.True(drain.Completed);
        var e = await Assert.ThrowsAsync<RpcException>(() => client.BatchPutAsync(ns, [new(TestData.Key("after"), value)]));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Contains("draining", e.Status.Detail);
        Assert.Equal(value, (await client.BatchGetAsync(ns, [TestData.Key("before")]))[0].Value);
    }

    [Fact]
    public async Task WithTheDataSocketOffClientsUseGrpcAndNoSocketFileExists()
    {
        await using var node = await TestNode.StartAsync(s => s["Node:DataSocketEnabled"] = "false");
        using var client = node.Connect();
        var info = await client.GetInfoAsync();
        Assert.Equal("", info.DataSocket);
        Assert.False(File.Exists(DataSocketPaths.Beside(node.UnixEndpoint["unix:".Length..])));
        var ns = await TestData.DeclareAsync(client, "data-off");
        var value = TestData.Value(3, 2_000_000);
        Assert.True((await client.BatchPutAsync(ns, [new(TestData.Key("v"), value)]))[0].Ok);
        Assert.Equal(value, (await client.BatchGetAsync(ns, [TestData.Key("v")]))[0].Value);
    }
}
