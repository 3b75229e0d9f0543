using CheckpointCache.Client;
using CheckpointCache.Node.Tests.Infrastructure;
using CheckpointCache.Rpc.Kv.V1;

namespace CheckpointCache.Node.Tests.Kv;

/// <summary>Prefix lookup over key-spec block keys, and pins that hold a prefix through eviction.</summary>
public sealed class LookupAndPinTests(NodeFixture fixture) : IClassFixture<NodeFixture>
{
    [Fact]
    public async Task LookupReturnsTheLongestCachedPrefixAndItsTiers()
    {
        using var client = fixture.Node.Connect();
        var ns = await TestData.DeclareAsync(client, "prefix", tokensPerBlock: 4);
        var tokens = Enumerable.Range(0, 26).Select(i => (uint)(i * 1000 + 7)).ToArray(); // 6 full blocks and 2 tokens left over
        var keys = ns.BlockKeys(tokens).Select(k => (ReadOnlyMemory<byte>)k).ToList();
        Assert.Equal(6, keys.Count);
        // Blocks 0, 1, 2 and 4: block 3 is the first miss.
        foreach (var i in new[] { 0, 1, 2, 4 })
            Assert.True((await client.BatchPutAsync(ns, [new(keys[i], TestData.Value(i, 64 * 1024))]))[0].Ok);

        var result = await client.LookupAsync(ns, keys);
        Assert.Equal(3, result.PrefixLength);
        Assert.Equal(3, result.Tiers.Count);
        Assert.All(result.Tiers, t => Assert.Equal(Tier.Ram, t));
        Assert.Null(result.PinnedUntil);

        Assert.Equal(0, (await client.LookupAsync(ns, keys.Skip(3).ToList(), TimeSpan.FromSeconds(5))).PrefixLength);
        var fromFour = await client.LookupAsync(ns, keys.Skip(4).ToList(), TimeSpan.FromSeconds(5));
        Assert.Equal(1, fromFour.PrefixLength);
        Assert.NotNull(fromFour.PinnedUntil);

        // A later prompt that shares the first two blocks finds exactly those.
        var other = tokens[..8].Concat(new uint[] { 9, 9, 9, 9, 9, 9, 9, 9 }).ToArray();
        Assert.Equal(2, (await client.LookupAsync(ns, ns.BlockKeys(other).Select(k => (ReadOnlyMemory<byte>)k).ToList())).PrefixLength);
    }

    [Fact]
    public async Task NothingCachedMeansNoPin()
    {
        using var client = fixture.Node.Connect();
        var ns = await TestData.DeclareAsync(client, "nopin");
        var result = await client.LookupAsync(ns, [TestData.Key("absent")], TimeSpan.FromSeconds(10));
        Assert.Equal(0, result.PrefixLength);
        Assert.Null(result.PinnedUntil);
        Assert.Empty(result.Tiers);
    }

    [Fact]
    public async Task APinnedPrefixSurvivesEvictionThatTakesAnUnpinnedOne()
    {
        // A store whose SSD tier is small enough to overflow several times in a test.
        await using var node = await TestNode.StartAsync(s =>
        {
            s["Engine:Namespaces:kv:RamBytes"] = "8MiB";
            s["Engine:Namespaces:kv:SsdBytes"] = "32MiB";
            s["Engine:Namespaces:kv:PageBytes"] = "1MiB";
            s["Engine:Namespaces:kv:ChunkBytes"] = (256 * 1024 - 1024).ToString();
            s["Engine:Namespaces:kv:SegmentBytes"] = "4MiB";
            s["Engine:Namespaces:kv:IndexBuckets"] = "4096";
            s["Limits:MaxValueBytes"] = "8MiB";
        });
        using var client = node.Connect();
        var ns = await TestData.DeclareAsync(client, "eviction", tokensPerBlock: 2);
        var pinned = ns.BlockKeys([1, 2, 3, 4, 5, 6, 7, 8]).Select(k => (ReadOnlyMemory<byte>)k).ToList();
        var unpinned = ns.BlockKeys([11, 12, 13, 14, 15, 16, 17, 18]).Select(k => (ReadOnlyMemory<byte>)k).ToList();
        var values = pinned.Select((_, i) => TestData.Value(100 + i, 300 * 1024)).ToList();
        Assert.All(await client.BatchPutAsync(ns, pinned.Select((k, i) => new KvItem(k, values[i])).ToList()), r => Assert.True(r.Ok));
        Assert.All(await client.BatchPutAsync(ns, unpinned.Select((k, i) => new KvItem(k, values[i])).ToList()), r => Assert.True(r.Ok));

        var lookup = await client.LookupAsync(ns, pinned, TimeSpan.FromMinutes(1));
        Assert.Equal(4, lookup.PrefixLength);
        Assert.NotNull(lookup.PinnedUntil);

        // Three times the SSD budget of other blocks.
        for (int batch = 0; batch < 12; batch++)
        {
            var filler = Enumerable.Range(0, 8).Select(i => new KvItem(TestData.Key($"filler-{batch}-{i}"), TestData.Value(batch * 8 + i, 1024 * 1024))).ToList();
            Assert.All(await client.BatchPutAsync(ns, filler), r => Assert.True(r.Ok, r.Message));
        }

        var stats = (await client.GetStatsAsync()).Stores.Single(s => s.Name == "kv");
        Assert.True(stats.Evictions > 0, "the store never evicted");
        Assert.Equal(0, (await client.LookupAsync(ns, unpinned)).PrefixLength);
        Assert.Equal(4, (await client.LookupAsync(ns, pinned)).PrefixLength);
        var got = await client.BatchGetAsync(ns, pinned);
        for (int i = 0; i < pinned.Count; i++) Assert.Equal(values[i], got[i].Value);
    }

    [Fact]
    public async Task AChunkThatVanishesMidReadBecomesAnAbortFrame()
    {
        await using var node = await TestNode.StartAsync(start: new CheckpointCache.Node.Hosting.NodeStartOptions
        {
            EngineFactory = async (o, lf, ct) => new VanishingChunksEngine(await Engine.CacheEngine.OpenAsync(o, lf, ct)),
        });
        using var client = node.Connect();
        var ns = await TestData.DeclareAsync(client, "vanish");
        var value = TestData.Value(7, 3 * 1024 * 1024); // 4 chunks of 1 MiB - 1 KiB
        var keys = new[] { TestData.Key("vanish1-a"), TestData.Key("vanish0-b"), TestData.Key("intact") };
        Assert.All(await client.BatchPutAsync(ns, keys.Select(k => new KvItem(k, value)).ToList()), r => Assert.True(r.Ok));

        var frames = await RawCalls.GetFramesAsync(client, ns, keys);
        var first = frames.Where(f => f.Index == 0).ToList();
        Assert.True(first[0].First);
        Assert.Equal(0, first[0].Code);
        Assert.False(first[^1].First);
        Assert.Equal((int)Grpc.Core.StatusCode.NotFound, first[^1].Code); // the abort frame
        var second = frames.Where(f => f.Index == 1).ToList();
        Assert.Single(second); // chunk 0 gone before anything was sent: a plain miss
        Assert.Equal((int)Grpc.Core.StatusCode.NotFound, second[0].Code);

        var results = await client.BatchGetAsync(ns, keys.Select(k => (ReadOnlyMemory<byte>)k).ToList());
        Assert.Equal(Grpc.Core.StatusCode.NotFound, results[0].Code);
        Assert.Null(results[0].Value);
        Assert.Equal(Grpc.Core.StatusCode.NotFound, results[1].Code);
        Assert.Equal(value, results[2].Value);
    }
}
