using CheckpointCache.Engine.Options;

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

    [Fact]
    public async Task A_new_store_checkpoints_only_its_log_until_it_grows_by_the_index_interval_and_recovers_from_the_log_alone()
    {
        var options = TestOptions.Engine(_folder.Path);
        options.IndexCheckpointLogBytes = ByteSize.FromMiB(4);
        int IndexCheckpoints(string name)
        {
            string folder = Path.Combine(_folder.Path, name, "checkpoints", "index-checkpoints");
            return Directory.Exists(folder) ? Directory.GetDirectories(folder).Length : 0;
        }
        await using (var engine = await CacheEngine.OpenAsync(options))
        {
            foreach (var name in new[] { "kv", "files" })
            {
                var ns = engine.GetNamespace(name);
                for (int i = 0; i < 20; i++) await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, 100_000));
                await ns.CommitAsync();
                Assert.Equal(0, IndexCheckpoints(name));
            }
            // 6 MB more than the 4 MiB interval: this commit writes the index too.
            var kv = engine.GetNamespace("kv");
            for (int i = 20; i < 80; i++) await kv.PutAsync(TestOptions.Key(i), TestOptions.Value(i, 100_000));
            await kv.CommitAsync();
            Assert.Equal(1, IndexCheckpoints("kv"));
        }
        Assert.Equal(0, IndexCheckpoints("files"));

        await using (var engine = await CacheEngine.OpenAsync(options))
        {
            var files = engine.GetNamespace("files");
            for (int i = 0; i < 20; i++)
            {
                using var got = await files.GetAsync(TestOptions.Key(i));
                Assert.True(TestOptions.Value(i, 100_000).AsSpan().SequenceEqual(got!.Span), $"key {i}");
            }
        }
    }
}
