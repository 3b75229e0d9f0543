namespace CheckpointCache.Engine.Tests;

public sealed class RoundTripTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(1000)]
    [InlineData(255 * 1024)]          // exactly one chunk: inline
    [InlineData(255 * 1024 + 1)]      // one byte over: two chunks plus a manifest
    [InlineData(3 * 1024 * 1024 + 7)] // many chunks, uneven tail
    public async Task Values_of_any_size_come_back_byte_for_byte(int length)
    {
        await using var engine = await CacheEngine.OpenAsync(TestOptions.Engine(_folder.Path));
        var ns = engine.GetNamespace("kv");
        var value = TestOptions.Value(length, length);
        await ns.PutAsync(TestOptions.Key(1), value);
        using var got = await ns.GetAsync(TestOptions.Key(1));
        Assert.NotNull(got);
        Assert.Equal(Tier.Ram, got!.Tier);
        Assert.True(value.AsSpan().SequenceEqual(got.Span));
        Assert.Equal(Tier.Ram, await ns.ExistsAsync(TestOptions.Key(1)));

        using var reader = await ns.OpenReadAsync(TestOptions.Key(1));
        Assert.NotNull(reader);
        Assert.Equal(length, reader!.Length);
        var assembled = new byte[length];
        int offset = 0;
        for (int i = 0; i < reader.ChunkCount; i++)
            offset += await reader.ReadChunkAsync(i, assembled.AsMemory(offset));
        Assert.Equal(length, offset);
        Assert.True(value.AsSpan().SequenceEqual(assembled));
    }

    [Fact]
    public async Task Missing_keys_are_misses_and_counted()
    {
        await using var engine = await CacheEngine.OpenAsync(TestOptions.Engine(_folder.Path));
        var ns = engine.GetNamespace("kv");
        Assert.Null(await ns.GetAsync(TestOptions.Key(42)));
        Assert.Equal(Tier.None, await ns.ExistsAsync(TestOptions.Key(42)));
        Assert.False(await ns.DeleteAsync(TestOptions.Key(42)));
        Assert.Equal(1, ns.GetStats().Misses);
    }

    [Fact]
    public async Task Overwrite_replaces_the_whole_value_and_delete_removes_it()
    {
        await using var engine = await CacheEngine.OpenAsync(TestOptions.Engine(_folder.Path));
        foreach (var name in new[] { "kv", "files" })
        {
            var ns = engine.GetNamespace(name);
            var first = TestOptions.Value(1, 700_000);
            var second = TestOptions.Value(2, 300_000);
            await ns.PutAsync(TestOptions.Key(7), first);
            await ns.PutAsync(TestOptions.Key(7), second);
            using (var got = await ns.GetAsync(TestOptions.Key(7)))
                Assert.True(second.AsSpan().SequenceEqual(got!.Span));
            Assert.True(await ns.DeleteAsync(TestOptions.Key(7)));
            Assert.Null(await ns.GetAsync(TestOptions.Key(7)));
            Assert.Equal(Tier.None, await ns.ExistsAsync(TestOptions.Key(7)));
        }
    }

    [Fact]
    public async Task Limits_are_enforced_with_messages_that_name_them()
    {
        await using var engine = await CacheEngine.OpenAsync(TestOptions.Engine(_folder.Path));
        var ns = engine.GetNamespace("kv");
        var empty = await Assert.ThrowsAsync<CacheException>(async () => await ns.PutAsync(Array.Empty<byte>(), new byte[1]));
        Assert.Equal(CacheErrorCode.InvalidArgument, empty.Code);
        var longKey = await Assert.ThrowsAsync<CacheException>(async () => await ns.PutAsync(new byte[1025], new byte[1]));
        Assert.Contains("MaxKeyBytes", longKey.Message);
        var big = await Assert.ThrowsAsync<CacheException>(async () => await ns.PutAsync(TestOptions.Key(1), new byte[8 * 1024 * 1024 + 1]));
        Assert.Contains("MaxValueBytes", big.Message);
        var missing = Assert.Throws<CacheException>(() => engine.GetNamespace("nope"));
        Assert.Equal(CacheErrorCode.NamespaceNotFound, missing.Code);

        await using (var writer = ns.BeginPut(TestOptions.Key(2), 10))
        {
            await writer.WriteAsync(new byte[4]);
            var shortWrite = await Assert.ThrowsAsync<CacheException>(async () => await writer.CompleteAsync());
            Assert.Equal(CacheErrorCode.LengthMismatch, shortWrite.Code);
        }
        Assert.Null(await ns.GetAsync(TestOptions.Key(2)));
    }
}
