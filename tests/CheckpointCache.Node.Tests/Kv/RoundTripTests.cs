using CheckpointCache.Client;
using CheckpointCache.Node.Tests.Infrastructure;
using CheckpointCache.Rpc.Kv.V1;
using Grpc.Core;

namespace CheckpointCache.Node.Tests.Kv;

/// <summary>Every KV RPC against a real node, byte-exact, over both transports.</summary>
public sealed class RoundTripTests(NodeFixture fixture) : IClassFixture<NodeFixture>
{
    /// <summary>Sizes that cross the 1 MiB frame and the 1 MiB-1 KiB chunk boundaries; 110 MiB in all, more than the 64 MiB RAM tier.</summary>
    private static readonly int[] Sizes =
    [
        1, 1000, 256 * 1024, 1024 * 1024 - 1024, 1024 * 1024 - 1023, 1024 * 1024, 1024 * 1024 + 1,
        4 * 1024 * 1024, 4 * 1024 * 1024 + 12345, 16 * 1024 * 1024, 32 * 1024 * 1024 - 7, 64 * 1024 * 1024 - 4 * 1024 * 1024 - 1,
    ];

    [Theory]
    [InlineData(Transport.UnixSocket)]
    [InlineData(Transport.Tcp)]
    public async Task MixedSizesComeBackByteExact(Transport transport)
    {
        using var client = fixture.Node.Connect(transport);
        var ns = await TestData.DeclareAsync(client, "mixed-" + transport);
        var items = Sizes.Select((size, i) => new KvItem(TestData.Key($"block-{i}"), TestData.Value(i * 7919 + (int)transport, size))).ToList();
        Assert.True(items.Sum(i => (long)i.Value.Length) > 100_000_000);

        // Several batches, as an inference server would offload them.
        foreach (var batch in items.Chunk(4))
        {
            var results = await client.BatchPutAsync(ns, batch);
            Assert.All(results, r => Assert.True(r.Ok, r.Message));
            Assert.Equal(Enumerable.Range(0, batch.Length), results.Select(r => r.Index));
        }

        var keys = items.Select(i => i.Key).ToList();
        foreach (var batch in Enumerable.Range(0, items.Count).Chunk(3))
        {
            var got = await client.BatchGetAsync(ns, batch.Select(i => keys[i]).ToList());
            for (int j = 0; j < batch.Length; j++)
            {
                Assert.True(got[j].Hit, got[j].Message);
                Assert.True(items[batch[j]].Value.Span.SequenceEqual(got[j].Value), $"value {batch[j]} ({Sizes[batch[j]]} bytes) differs");
                Assert.NotEqual(Tier.None, got[j].Tier);
            }
        }

        var tiers = await client.ExistsAsync(ns, keys);
        Assert.All(tiers, t => Assert.NotEqual(Tier.None, t));
        // 110 MiB do not fit in 64 MiB of RAM: the oldest blocks were flushed to the SSD tier.
        Assert.Contains(Tier.Ssd, tiers);

        var deleted = await client.DeleteAsync(ns, [keys[0], keys[1], TestData.Key("never-stored")]);
        Assert.Equal([true, true, false], deleted);
        var after = await client.BatchGetAsync(ns, [keys[0], keys[1], keys[2]]);
        Assert.Equal(StatusCode.NotFound, after[0].Code);
        Assert.Equal(StatusCode.NotFound, after[1].Code);
        Assert.True(after[2].Hit);
        Assert.Equal([Tier.None, Tier.None], (await client.ExistsAsync(ns, [keys[0], keys[1]])).ToArray());
    }

    [Fact]
    public async Task PartialSuccessIsPerKeyAndInRequestOrder()
    {
        using var client = fixture.Node.Connect();
        var ns = await TestData.DeclareAsync(client, "partial");
        var a = TestData.Value(1, 300_000);
        var b = TestData.Value(2, 5);
        var put = await client.BatchPutAsync(ns, [new(TestData.Key("a"), a), new(TestData.Key("b"), b)]);
        Assert.All(put, r => Assert.True(r.Ok));

        var got = await client.BatchGetAsync(ns, [TestData.Key("missing-1"), TestData.Key("b"), TestData.Key("missing-2"), TestData.Key("a")]);
        Assert.Equal([0, 1, 2, 3], got.Select(g => g.Index));
        Assert.Equal([StatusCode.NotFound, StatusCode.OK, StatusCode.NotFound, StatusCode.OK], got.Select(g => g.Code));
        Assert.Equal(b, got[1].Value);
        Assert.Equal(a, got[3].Value);
    }

    [Fact]
    public async Task OverwriteReplacesTheWholeValueAndEmptyValuesWork()
    {
        using var client = fixture.Node.Connect();
        var ns = await TestData.DeclareAsync(client, "overwrite");
        var key = TestData.Key("k");
        await client.BatchPutAsync(ns, [new(key, TestData.Value(1, 3 * 1024 * 1024))]);
        var second = TestData.Value(2, 1024 * 1024 + 17);
        await client.BatchPutAsync(ns, [new(key, second), new(TestData.Key("empty"), ReadOnlyMemory<byte>.Empty)]);

        var got = await client.BatchGetAsync(ns, [key, TestData.Key("empty")]);
        Assert.Equal(second, got[0].Value);
        Assert.True(got[1].Hit, got[1].Message);
        Assert.Empty(got[1].Value!);
    }

    [Fact]
    public async Task DeclaredNamespacesAreIsolatedAndDeclaringIsIdempotent()
    {
        using var client = fixture.Node.Connect();
        var descriptor = TestData.Descriptor("isolation");
        var first = await client.Kv.DeclareNamespaceAsync(new DeclareNamespaceRequest { Descriptor_ = descriptor });
        var again = await client.Kv.DeclareNamespaceAsync(new DeclareNamespaceRequest { Descriptor_ = descriptor });
        Assert.True(first.Created);
        Assert.False(again.Created);
        Assert.Equal(first.Namespace.Id, again.Namespace.Id);
        Assert.Equal("kv", first.Namespace.Store);
        Assert.Equal(1u, first.KeySpecVersion);
        Assert.Equal(KeySpec.NamespaceId(descriptor), first.Namespace.Id.ToByteArray());

        var other = descriptor.Clone();
        other.TpRank = 1;
        var ns1 = await client.DeclareNamespaceAsync(descriptor);
        var ns2 = await client.DeclareNamespaceAsync(other);
        var key = TestData.Key("same-key");
        await client.BatchPutAsync(ns1, [new(key, TestData.Value(1, 100))]);
        Assert.Equal(StatusCode.NotFound, (await client.BatchGetAsync(ns2, [key]))[0].Code);
        Assert.Equal(Tier.None, (await client.ExistsAsync(ns2, [key]))[0]);
        Assert.True((await client.BatchGetAsync(ns1, [key]))[0].Hit);
    }

    [Fact]
    public async Task SmallFramesAreHonoured()
    {
        using var client = fixture.Node.Connect(options: new CacheClientOptions { FrameBytes = 4096 });
        var ns = await TestData.DeclareAsync(client, "frames");
        var value = TestData.Value(3, 100_000);
        await client.BatchPutAsync(ns, [new(TestData.Key("k"), value)]);

        var request = new BatchGetRequest { Namespace = ns.ToRef(), MaxFrameBytes = 4096 };
        request.Keys.Add(Google.Protobuf.ByteString.CopyFrom(TestData.Key("k")));
        using var call = client.Kv.BatchGet(request);
        var frames = new List<GetFrame>();
        await foreach (var f in call.ResponseStream.ReadAllAsync()) frames.Add(f);
        Assert.True(frames[0].First);
        Assert.Equal(100_000UL, frames[0].TotalLength);
        Assert.All(frames, f => Assert.True(f.Data.Length <= 4096));
        Assert.Equal(value, frames.SelectMany(f => f.Data.ToByteArray()).ToArray());
    }

    [Fact]
    public async Task RawCallerKeysAndKeySpecKeysBothWork()
    {
        using var client = fixture.Node.Connect();
        var ns = await TestData.DeclareAsync(client, "raw", tokensPerBlock: 4);
        var specKeys = ns.BlockKeys([1, 2, 3, 4, 5, 6, 7, 8]);
        var raw = TestData.Key("vllm-block-hash:0123456789abcdef");
        var put = await client.BatchPutAsync(ns, [new(specKeys[0], TestData.Value(1, 10)), new(specKeys[1], TestData.Value(2, 10)), new(raw, TestData.Value(3, 10))]);
        Assert.All(put, r => Assert.True(r.Ok));
        Assert.All(await client.BatchGetAsync(ns, [specKeys[0], specKeys[1], raw]), g => Assert.True(g.Hit));
    }
}
