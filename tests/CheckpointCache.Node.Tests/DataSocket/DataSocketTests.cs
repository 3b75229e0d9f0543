using CheckpointCache.Client;
using CheckpointCache.Client.DataSocket;
using CheckpointCache.Node.Tests.Infrastructure;
using CheckpointCache.Rpc.Kv.V1;
using Google.Protobuf;
using Grpc.Core;
using static CheckpointCache.Node.Tests.Infrastructure.LimitedNodeFixture;

namespace CheckpointCache.Node.Tests.DataSocket;

/// <summary>
/// The data socket (BatchGet/BatchPut as plain frames): what a client gets through it is what gRPC gives, byte for
/// byte; bad frames get the same statuses naming the same limits; a cut put publishes nothing; the node stays up.
/// </summary>
public sealed class DataSocketTests(LimitedNodeFixture fixture) : IClassFixture<LimitedNodeFixture>, IAsyncLifetime
{
    private CacheClient _client = null!;
    private CacheClient _grpc = null!;
    private KvNamespace _ns = null!;
    private string _path = null!;

    public async Task InitializeAsync()
    {
        _client = fixture.Node.Connect();
        _grpc = fixture.Node.Connect(options: new CacheClientOptions { UseDataSocket = false });
        _ns = await TestData.DeclareAsync(_client, "data-socket");
        _path = (await _client.GetInfoAsync()).DataSocket;
    }

    public async Task DisposeAsync()
    {
        // After every case the node still stores and returns values over the data socket.
        var key = TestData.Key("alive-" + Guid.NewGuid().ToString("N")[..6]);
        var value = TestData.Value(7, 300_000);
        Assert.True((await _client.BatchPutAsync(_ns, [new(key, value)]))[0].Ok);
        Assert.Equal(value, (await _client.BatchGetAsync(_ns, [key]))[0].Value);
        _client.Dispose();
        _grpc.Dispose();
    }

    [Fact]
    public void TheNodeReportsItsDataSocketBesideTheGrpcSocket()
    {
        var grpcSocket = fixture.Node.UnixEndpoint["unix:".Length..];
        Assert.Equal(DataSocketPaths.Beside(grpcSocket), _path);
        Assert.True(File.Exists(_path));
    }

    [Fact]
    public async Task ValuesWrittenThroughEitherPathReadBackThroughTheOtherByteForByte()
    {
        // Empty, tiny, and values of several engine chunks (segments) each way.
        var sizes = new[] { 0, 1, 65_535, 1_000_003, MaxValueBytes };
        var viaData = sizes.Select((n, i) => new KvItem(TestData.Key($"d-{i}"), TestData.Value(100 + i, n))).ToList();
        var viaGrpc = sizes.Select((n, i) => new KvItem(TestData.Key($"g-{i}"), TestData.Value(200 + i, n))).ToList();
        foreach (var chunk in viaData.Chunk(2)) Assert.All(await _client.BatchPutAsync(_ns, chunk), r => Assert.True(r.Ok, r.Message));
        foreach (var chunk in viaGrpc.Chunk(2)) Assert.All(await _grpc.BatchPutAsync(_ns, chunk), r => Assert.True(r.Ok, r.Message));

        foreach (var (items, reader) in new[] { (viaData, _grpc), (viaGrpc, _client) })
            foreach (var item in items)
            {
                var got = (await reader.BatchGetAsync(_ns, [item.Key]))[0];
                Assert.True(got.Hit, got.Message);
                Assert.Equal(item.Value.ToArray(), got.Value);
            }
    }

    [Fact]
    public async Task GetIntoFillsTheCallersBuffersAndRefusesOneTooSmall()
    {
        var a = TestData.Value(1, 700_000);
        var b = TestData.Value(2, 10_000);
        Assert.All(await _client.BatchPutAsync(_ns, [new(TestData.Key("into-a"), a), new(TestData.Key("into-b"), b)]), r => Assert.True(r.Ok));
        foreach (var client in new[] { _client, _grpc })
        {
            var big = new byte[1_000_000];
            var small = new byte[100];
            var missing = new byte[10];
            var got = await client.BatchGetIntoAsync(_ns, [TestData.Key("into-a"), TestData.Key("into-b"), TestData.Key("into-none")], [big, small, missing]);
            Assert.True(got[0].Hit);
            Assert.Equal(a.Length, got[0].Length);
            Assert.Equal(a, big[..a.Length]);
            Assert.Equal(StatusCode.OutOfRange, got[1].Code);
            Assert.Contains("destination holds 100", got[1].Message);
            Assert.All(small, x => Assert.Equal(0, x));
            Assert.Equal(StatusCode.NotFound, got[2].Code);
        }
    }

    [Fact]
    public async Task PerItemRefusalsSkipTheRefusedBytesAndKeepTheRestOfTheCall()
    {
        var tooLong = new byte[MaxKeyBytes + 1];
        var tooBig = TestData.Value(3, MaxValueBytes + 1);
        var fine = TestData.Value(4, 123_456);
        var put = await _client.BatchPutAsync(_ns, [new(tooLong, fine), new(TestData.Key("too-big"), tooBig), new(TestData.Key("fine"), fine)]);
        Assert.Equal(StatusCode.InvalidArgument, put[0].Code);
        Assert.Contains("Limits:MaxKeyBytes", put[0].Message);
        Assert.Equal(StatusCode.InvalidArgument, put[1].Code);
        Assert.Contains("Limits:MaxValueBytes", put[1].Message);
        Assert.True(put[2].Ok);
        Assert.Equal(1, put[2].Replicas);
        Assert.Equal(fine, (await _grpc.BatchGetAsync(_ns, [TestData.Key("fine")]))[0].Value);
        Assert.Equal(Tier.None, (await _grpc.ExistsAsync(_ns, [TestData.Key("too-big")]))[0]);
    }

    [Fact]
    public async Task WholeCallLimitsFailTheCallWithTheGrpcStatusAndMessage()
    {
        var keys = Enumerable.Range(0, MaxBatchKeys + 1).Select(i => (ReadOnlyMemory<byte>)TestData.Key($"k{i}")).ToList();
        var e = await Assert.ThrowsAsync<RpcException>(() => _client.BatchGetAsync(_ns, keys));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("Limits:MaxBatchKeys", e.Status.Detail);

        var items = Enumerable.Range(0, 3).Select(i => new KvItem(TestData.Key($"batch-{i}"), TestData.Value(i, MaxValueBytes))).ToList();
        e = await Assert.ThrowsAsync<RpcException>(() => _client.BatchPutAsync(_ns, items));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("Limits:MaxBatchBytes", e.Status.Detail);
        // Items before the one that crossed the limit were whole and are kept; the refused one was never published.
        Assert.Equal(Tier.None, (await _grpc.ExistsAsync(_ns, [TestData.Key("batch-2")]))[0]);

        var unknown = new KvNamespace("", new byte[16], null);
        e = await Assert.ThrowsAsync<RpcException>(() => _client.BatchGetAsync(unknown, [TestData.Key("x")]));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
        Assert.Contains("DeclareNamespace", e.Status.Detail);
    }

    [Fact]
    public async Task GarbageAndWrongMagicGetInvalidArgumentAndTheConnectionCloses()
    {
        using var wire = await WireConnection.ConnectAsync(_path, CancellationToken.None);
        wire.WriteUInt32(0xDEADBEEF);
        wire.WriteUInt32(0);
        wire.WriteUInt64(0);
        await wire.FlushAsync(CancellationToken.None);
        Assert.Equal(DataWire.ResponseMagic, await wire.ReadUInt32Async(CancellationToken.None));
        Assert.Equal((uint)StatusCode.InvalidArgument, await wire.ReadUInt32Async(CancellationToken.None));
        Assert.Contains("CKD1", await wire.ReadStringAsync(CancellationToken.None));
        Assert.False(await wire.WaitForFrameAsync(CancellationToken.None));

        using var second = await WireConnection.ConnectAsync(_path, CancellationToken.None);
        await second.WriteRequestHeaderAsync(DataWire.OpFileReadShared + 1, _ns.ToRef().ToByteArray(), 0, CancellationToken.None);
        await second.FlushAsync(CancellationToken.None);
        Assert.Equal(DataWire.ResponseMagic, await second.ReadUInt32Async(CancellationToken.None));
        Assert.Equal((uint)StatusCode.Unimplemented, await second.ReadUInt32Async(CancellationToken.None));
    }

    [Fact]
    public async Task APutCutMidValueIsNeverPublished()
    {
        var key = TestData.Key("cut-" + Guid.NewGuid().ToString("N")[..6]);
        using (var wire = await WireConnection.ConnectAsync(_path, CancellationToken.None))
        {
            await wire.WriteRequestHeaderAsync(DataWire.OpPut, _ns.ToRef().ToByteArray(), 1, CancellationToken.None);
            wire.WriteShortBytes(key);
            wire.WriteUInt64(1_000_000);
            await wire.WriteAsync(TestData.Value(5, 400_000), CancellationToken.None);
            await wire.FlushAsync(CancellationToken.None);
        }
        // The node notices the close, abandons the item, and keeps serving; the key never appears.
        var fine = TestData.Value(6, 1000);
        Assert.True((await _client.BatchPutAsync(_ns, [new(TestData.Key("after-cut"), fine)]))[0].Ok);
        Assert.Equal(Tier.None, (await _grpc.ExistsAsync(_ns, [key]))[0]);
        Assert.Equal(StatusCode.NotFound, (await _client.BatchGetAsync(_ns, [key]))[0].Code);
    }

    [Fact]
    public async Task AnExpiredDeadlineIsDeadlineExceededAndLeavesNothing()
    {
        using var hurried = fixture.Node.Connect(options: new CacheClientOptions { CallTimeout = TimeSpan.FromTicks(1), DataSocketPath = _path });
        var key = TestData.Key("hurried");
        var e = await Assert.ThrowsAsync<RpcException>(() => hurried.BatchPutAsync(_ns, [new(key, TestData.Value(8, MaxValueBytes))]));
        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
        Assert.Equal(Tier.None, (await _grpc.ExistsAsync(_ns, [key]))[0]);
    }
}
