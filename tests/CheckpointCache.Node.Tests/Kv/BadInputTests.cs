using CheckpointCache.Client;
using CheckpointCache.Node.Tests.Infrastructure;
using CheckpointCache.Rpc.Kv.V1;
using Google.Protobuf;
using Grpc.Core;
using static CheckpointCache.Node.Tests.Infrastructure.LimitedNodeFixture;

namespace CheckpointCache.Node.Tests.Kv;

/// <summary>
/// The bad-input matrix: every refusal carries the precise status and names the limit, nothing torn is
/// ever stored, and the node keeps serving after each one.
/// </summary>
public sealed class BadInputTests(LimitedNodeFixture fixture) : IClassFixture<LimitedNodeFixture>, IAsyncLifetime
{
    private CacheClient _client = null!;
    private KvNamespace _ns = null!;

    public async Task InitializeAsync()
    {
        _client = fixture.Node.Connect();
        _ns = await TestData.DeclareAsync(_client, "bad-input");
    }

    public async Task DisposeAsync()
    {
        // After every case the node still answers and still stores and returns values.
        var info = await _client.GetInfoAsync();
        Assert.False(info.CloudEnabled);
        var key = TestData.Key("still-alive-" + Guid.NewGuid().ToString("N")[..6]);
        var value = TestData.Value(99, 123_456);
        Assert.True((await _client.BatchPutAsync(_ns, [new(key, value)]))[0].Ok);
        Assert.Equal(value, (await _client.BatchGetAsync(_ns, [key]))[0].Value);
        _client.Dispose();
    }

    private async Task AssertAbsent(params byte[][] keys)
        => Assert.All(await _client.ExistsAsync(_ns, keys.Select(k => (ReadOnlyMemory<byte>)k).ToList()), t => Assert.Equal(Tier.None, t));

    private static async Task<RpcException> Refused(StatusCode code, Func<Task> call, string mentions)
    {
        var e = await Assert.ThrowsAsync<RpcException>(call);
        Assert.Equal(code, e.StatusCode);
        Assert.Contains(mentions, e.Status.Detail);
        return e;
    }

    [Fact]
    public async Task EmptyKeyIsRefusedPerKeyInBatchesAndForTheCallElsewhere()
    {
        var put = await _client.BatchPutAsync(_ns, [new(Array.Empty<byte>(), TestData.Value(1, 10)), new(TestData.Key("fine"), TestData.Value(2, 10))]);
        Assert.Equal(StatusCode.InvalidArgument, put[0].Code);
        Assert.Contains("Limits:MaxKeyBytes", put[0].Message);
        Assert.True(put[1].Ok);

        var get = await _client.BatchGetAsync(_ns, [Array.Empty<byte>(), TestData.Key("fine")]);
        Assert.Equal(StatusCode.InvalidArgument, get[0].Code);
        Assert.True(get[1].Hit);

        await Refused(StatusCode.InvalidArgument, () => _client.ExistsAsync(_ns, [Array.Empty<byte>()]), "key 0 is empty");
        await Refused(StatusCode.InvalidArgument, () => _client.DeleteAsync(_ns, [Array.Empty<byte>()]), "key 0 is empty");
        await Refused(StatusCode.InvalidArgument, () => _client.LookupAsync(_ns, [TestData.Key("x"), Array.Empty<byte>()]), "key 1 is empty");
    }

    [Fact]
    public async Task OversizeKeyIsRefusedNamingTheLimit()
    {
        var longKey = new byte[MaxKeyBytes + 1];
        var put = await _client.BatchPutAsync(_ns, [new(longKey, TestData.Value(1, 10))]);
        Assert.Equal(StatusCode.InvalidArgument, put[0].Code);
        Assert.Contains($"Limits:MaxKeyBytes ({MaxKeyBytes})", put[0].Message);
        var get = await _client.BatchGetAsync(_ns, [longKey]);
        Assert.Equal(StatusCode.InvalidArgument, get[0].Code);
        await Refused(StatusCode.InvalidArgument, () => _client.ExistsAsync(_ns, [longKey]), $"Limits:MaxKeyBytes ({MaxKeyBytes})");
        // Exactly at the limit is fine.
        Assert.True((await _client.BatchPutAsync(_ns, [new(new byte[MaxKeyBytes], TestData.Value(1, 10))]))[0].Ok);
    }

    [Fact]
    public async Task OversizeValueIsRefusedPerKeyAndTheRestOfTheBatchIsStored()
    {
        var big = TestData.Key("too-big");
        var after = TestData.Key("after-too-big");
        var put = await _client.BatchPutAsync(_ns, [new(big, TestData.Value(1, MaxValueBytes + 1)), new(after, TestData.Value(2, 1000))]);
        Assert.Equal(StatusCode.InvalidArgument, put[0].Code);
        Assert.Contains("Limits:MaxValueBytes", put[0].Message);
        Assert.True(put[1].Ok, put[1].Message);
        await AssertAbsent(big);
        Assert.True((await _client.BatchPutAsync(_ns, [new(big, TestData.Value(1, MaxValueBytes))]))[0].Ok);
    }

    [Fact]
    public async Task OversizeBatchOfKeysFailsTheCall()
    {
        var keys = Enumerable.Range(0, MaxBatchKeys + 1).Select(i => (ReadOnlyMemory<byte>)TestData.Key($"k{i}")).ToList();
        var mentions = $"Limits:MaxBatchKeys ({MaxBatchKeys})";
        await Refused(StatusCode.ResourceExhausted, () => _client.BatchGetAsync(_ns, keys), mentions);
        await Refused(StatusCode.ResourceExhausted, () => _client.ExistsAsync(_ns, keys), mentions);
        await Refused(StatusCode.ResourceExhausted, () => _client.DeleteAsync(_ns, keys), mentions);
        await Refused(StatusCode.ResourceExhausted, () => _client.LookupAsync(_ns, keys), mentions);
        await Refused(StatusCode.ResourceExhausted, () => _client.BatchPutAsync(_ns, keys.Select(k => new KvItem(k, new byte[1])).ToList()), mentions);
        // The batch at the limit is fine.
        Assert.Equal(MaxBatchKeys, (await _client.BatchGetAsync(_ns, keys.Take(MaxBatchKeys).ToList())).Count);
    }

    [Fact]
    public async Task OversizeBatchOfBytesFailsAPutAndRefusesTheRestOfAGet()
    {
        int size = MaxBatchBytes * 3 / 8; // three of these are more than MaxBatchBytes
        var keys = Enumerable.Range(0, 3).Select(i => TestData.Key($"bytes-{i}")).ToArray();
        await Refused(StatusCode.ResourceExhausted,
            () => _client.BatchPutAsync(_ns, keys.Select((k, i) => new KvItem(k, TestData.Value(i, size))).ToList()), "Limits:MaxBatchBytes");
        // The item that crossed the limit was never stored.
        await AssertAbsent(keys[2]);

        foreach (var (k, i) in keys.Select((k, i) => (k, i)))
            Assert.True((await _client.BatchPutAsync(_ns, [new(k, TestData.Value(i, size))]))[0].Ok);
        var got = await _client.BatchGetAsync(_ns, keys.Select(k => (ReadOnlyMemory<byte>)k).ToList());
        Assert.True(got[0].Hit);
        Assert.True(got[1].Hit);
        Assert.Equal(StatusCode.ResourceExhausted, got[2].Code);
        Assert.Contains("Limits:MaxBatchBytes", got[2].Message);
    }

    [Fact]
    public async Task UndeclaredNamespaceIsNotFoundNamingItsId()
    {
        var ns = RawCalls.Undeclared();
        var k = new List<ReadOnlyMemory<byte>> { TestData.Key("k") };
        await Refused(StatusCode.NotFound, () => _client.BatchGetAsync(ns, k), ns.IdHex);
        await Refused(StatusCode.NotFound, () => _client.BatchPutAsync(ns, [new(k[0], new byte[1])]), ns.IdHex);
        await Refused(StatusCode.NotFound, () => _client.ExistsAsync(ns, k), ns.IdHex);
        await Refused(StatusCode.NotFound, () => _client.DeleteAsync(ns, k), ns.IdHex);
        await Refused(StatusCode.NotFound, () => _client.LookupAsync(ns, k), ns.IdHex);
    }

    [Fact]
    public async Task UnknownStoreIsNotFoundAndAFilesStoreIsRefused()
    {
        var k = new List<ReadOnlyMemory<byte>> { TestData.Key("k") };
        await Refused(StatusCode.NotFound, () => _client.ExistsAsync(_ns with { Store = "nope" }, k), "store 'nope' is not configured");
        await Refused(StatusCode.NotFound, () => _client.DeclareNamespaceAsync(TestData.Descriptor("store"), "nope"), "store 'nope'");
        await Refused(StatusCode.InvalidArgument, () => _client.DeclareNamespaceAsync(TestData.Descriptor("store"), "files"), "kind files");
        await Refused(StatusCode.InvalidArgument, () => _client.ExistsAsync(_ns with { Id = new byte[5] }, k), "16 bytes");
        await Refused(StatusCode.InvalidArgument, async () => await _client.Kv.ExistsAsync(new KeysRequest()), "namespace is missing");
    }

    [Fact]
    public async Task DescriptorsTheKeySpecForbidsAreRefused()
    {
        var newline = TestData.Descriptor("descriptor");
        newline.Dtype = "bf16\nfp8";
        await Refused(StatusCode.InvalidArgument, () => _client.DeclareNamespaceAsync(newline), "newline");
        var zero = TestData.Descriptor("descriptor");
        zero.TokensPerBlock = 0;
        await Refused(StatusCode.InvalidArgument, () => _client.DeclareNamespaceAsync(zero), "tokens_per_block");
        var huge = TestData.Descriptor("descriptor");
        huge.Extra = new string('x', 5000);
        await Refused(StatusCode.InvalidArgument, () => _client.DeclareNamespaceAsync(huge), "Limits:MaxDescriptorBytes");
        await Refused(StatusCode.InvalidArgument, async () => await _client.Kv.DeclareNamespaceAsync(new DeclareNamespaceRequest()), "descriptor is missing");
    }

    [Fact]
    public async Task WrongFrameOrderFailsTheCallAndLeavesNothing()
    {
        var ns = _ns.ToRef();
        var key = TestData.Key("misframed");
        await Refused(StatusCode.InvalidArgument,
            () => RawCalls.PutAsync(_client, [new PutFrame { Namespace = ns, Data = ByteString.CopyFrom(new byte[10]) }]), "new_item");
        await Refused(StatusCode.InvalidArgument,
            () => RawCalls.PutAsync(_client, [RawCalls.Item(key, 20, new byte[10], ns), new PutFrame { Key = ByteString.CopyFrom(key), Data = ByteString.CopyFrom(new byte[10]) }]),
            "new_item is false");
        await Refused(StatusCode.InvalidArgument, () => RawCalls.PutAsync(_client, [RawCalls.Item(key, 10, new byte[10])]), "namespace is missing");
        var other = (await TestData.DeclareAsync(_client, "other")).ToRef();
        await Refused(StatusCode.InvalidArgument,
            () => RawCalls.PutAsync(_client, [RawCalls.Item(key, 20, new byte[10], ns), new PutFrame { Namespace = other, Data = ByteString.CopyFrom(new byte[10]) }]),
            "another namespace");
        await AssertAbsent(key);
    }

    [Fact]
    public async Task TotalLengthMismatchIsRefusedPerItemAndNothingTornIsStored()
    {
        var ns = _ns.ToRef();
        var (shortKey, longKey, lastKey, good) = (TestData.Key("short"), TestData.Key("long"), TestData.Key("short-last"), TestData.Key("good"));
        var response = await RawCalls.PutAsync(_client,
        [
            RawCalls.Item(shortKey, 1000, new byte[500], ns),
            RawCalls.Item(longKey, 1000, new byte[600]), RawCalls.Data(new byte[600]),
            RawCalls.Item(good, 3, [1, 2, 3]),
            RawCalls.Item(lastKey, 2 * 1024 * 1024, new byte[1024 * 1024]),
        ]);
        Assert.Equal(4, response.Results.Count);
        Assert.Equal((int)StatusCode.InvalidArgument, response.Results[0].Code);
        Assert.Contains("total_length mismatch: 500 of 1000", response.Results[0].Message);
        Assert.Equal((int)StatusCode.InvalidArgument, response.Results[1].Code);
        Assert.Contains("more bytes", response.Results[1].Message);
        Assert.Equal((int)StatusCode.OK, response.Results[2].Code);
        Assert.Equal((int)StatusCode.InvalidArgument, response.Results[3].Code);
        await AssertAbsent(shortKey, longKey, lastKey);
        Assert.Equal(new byte[] { 1, 2, 3 }, (await _client.BatchGetAsync(_ns, [good]))[0].Value);
    }

    [Fact]
    public async Task DeadlineExpiringMidPutLeavesNoValue()
    {
        var ns = _ns.ToRef();
        var half = TestData.Key("deadline-half");
        var whole = TestData.Key("deadline-all-bytes");
        var value = TestData.Value(5, MaxValueBytes);

        // Half of a value, then silence until the deadline passes.
        await ExpectDeadlineAsync([RawCalls.Item(half, value.Length, value[..(value.Length / 2)], ns)]);
        // Every byte of a value, but the stream is not closed before the deadline: still not published.
        await ExpectDeadlineAsync(RawCalls.Whole(whole, value, ns));
        await AssertAbsent(half, whole);
    }

    /// <summary>Sends the frames without closing the stream and waits for the deadline to end the call.</summary>
    private async Task ExpectDeadlineAsync(IEnumerable<PutFrame> frames)
    {
        using var call = _client.Kv.BatchPut(deadline: DateTime.UtcNow.AddSeconds(2));
        try
        {
            foreach (var f in frames) await call.RequestStream.WriteAsync(f);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.DeadlineExceeded)
        {
            // On a busy machine the deadline may already pass while the frames go out: the same case, earlier.
        }
        var ended = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.Equal(StatusCode.DeadlineExceeded, ended.StatusCode);
    }

    [Fact]
    public async Task FrameOverTheMessageLimitIsRefusedByGrpc()
    {
        var key = TestData.Key("huge-frame");
        var e = await Assert.ThrowsAsync<RpcException>(() => RawCalls.PutAsync(_client, [RawCalls.Item(key, 5 * 1024 * 1024, new byte[5 * 1024 * 1024], _ns.ToRef())]));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        await AssertAbsent(key);
    }

    [Fact]
    public async Task LookupPinsAreCappedAtMaxPinTtl()
    {
        var key = TestData.Key("pin-cap");
        await _client.BatchPutAsync(_ns, [new(key, new byte[10])]);
        var result = await _client.LookupAsync(_ns, [key], pin: TimeSpan.FromHours(1));
        Assert.Equal(1, result.PrefixLength);
        Assert.NotNull(result.PinnedUntil);
        Assert.True(result.PinnedUntil <= DateTimeOffset.UtcNow.AddSeconds(30).AddSeconds(1), $"pinned until {result.PinnedUntil}");
    }
}
