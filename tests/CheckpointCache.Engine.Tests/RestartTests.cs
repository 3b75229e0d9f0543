namespace CheckpointCache.Engine.Tests;

public sealed class RestartTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Reopening_the_data_directory_finds_committed_values_on_ssd()
    {
        var options = TestOptions.Engine(_folder.Path);
        var sizes = new[] { 10, 4096, 100_000, 254 * 1024, 600_000, 2_000_000 };
        await using (var engine = await CacheEngine.OpenAsync(options))
        {
            foreach (var name in new[] { "kv", "files" })
            {
                var ns = engine.GetNamespace(name);
                for (int i = 0; i < 40; i++)
                    await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, sizes[i % sizes.Length]));
                await ns.CommitAsync();
            }
        }

        await using (var engine = await CacheEngine.OpenAsync(options))
        {
            Assert.True(engine.RecoveryTime > TimeSpan.Zero);
            foreach (var name in new[] { "kv", "files" })
            {
                var ns = engine.GetNamespace(name);
                Assert.True(ns.GetStats().RecoveryTime > TimeSpan.Zero);
                for (int i = 0; i < 40; i++)
                {
                    using var got = await ns.GetAsync(TestOptions.Key(i));
                    Assert.NotNull(got);
                    Assert.True(TestOptions.Value(i, sizes[i % sizes.Length]).AsSpan().SequenceEqual(got!.Span), $"{name} key {i}");
                }
                Assert.True(ns.GetStats().SsdHits > 0, "recovered values are read from the SSD tier");
            }
        }
    }

    [Fact]
    public async Task A_second_engine_on_the_same_directory_is_refused()
    {
        var options = TestOptions.Engine(_folder.Path);
        await using var engine = await CacheEngine.OpenAsync(options);
        var ex = await Assert.ThrowsAsync<CacheException>(() => CacheEngine.OpenAsync(options));
        Assert.Contains("in use", ex.Message);
    }
}
