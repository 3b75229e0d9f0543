using CheckpointCache.Engine.Options;

namespace CheckpointCache.Engine.Tests;

public sealed class CapacityTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Evictable_namespace_stays_within_its_ssd_budget_under_3x_overload()
    {
        var options = TestOptions.Engine(_folder.Path);
        var policy = options.Namespaces["kv"];
        long budget = policy.SsdBytes;
        long segment = policy.SegmentBytes;
        await using var engine = await CacheEngine.OpenAsync(options);
        var ns = engine.GetNamespace("kv");
        const int size = 200 * 1024;
        int count = (int)(3 * budget / size);
        long worst = 0;
        for (int i = 0; i < count; i++)
        {
            await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, size));
            if (i % 50 == 0) worst = Math.Max(worst, DiskUsage.Bytes(Path.Combine(_folder.Path, "kv")));
        }
        await ns.CommitAsync();
        worst = Math.Max(worst, DiskUsage.Bytes(Path.Combine(_folder.Path, "kv")));
        Assert.True(worst <= budget + segment, $"du reached {worst} bytes; budget {budget} + one segment {segment}");

        var stats = ns.GetStats();
        Assert.True(stats.Evictions > 0);
        Assert.True(stats.EvictedBytes >= budget);
        // Oldest values were dropped, the newest are intact.
        Assert.Null(await ns.GetAsync(TestOptions.Key(0)));
        for (int i = count - 20; i < count; i++)
        {
            using var got = await ns.GetAsync(TestOptions.Key(i));
            Assert.NotNull(got);
            Assert.True(TestOptions.Value(i, size).AsSpan().SequenceEqual(got!.Span));
        }
        // Every value either reads back exactly or is a clean miss.
        int hits = 0;
        for (int i = 0; i < count; i++)
        {
            using var got = await ns.GetAsync(TestOptions.Key(i));
            if (got == null) continue;
            hits++;
            Assert.True(TestOptions.Value(i, size).AsSpan().SequenceEqual(got.Span), $"key {i}");
        }
        Assert.InRange(hits, count / 6, count / 2);
    }

    [Fact]
    public async Task Pinned_namespace_refuses_writes_when_full_and_keeps_everything_it_acknowledged()
    {
        var options = TestOptions.Engine(_folder.Path);
        var policy = options.Namespaces["files"];
        await using var engine = await CacheEngine.OpenAsync(options);
        var ns = engine.GetNamespace("files");
        const int size = 200 * 1024;
        int acknowledged = 0;
        CacheException? refusal = null;
        for (int i = 0; i < 3 * policy.SsdBytes / size; i++)
        {
            try
            {
                await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, size));
                acknowledged++;
            }
            catch (CacheException ex)
            {
                refusal = ex;
                break;
            }
        }
        Assert.NotNull(refusal);
        Assert.Equal(CacheErrorCode.OutOfSpace, refusal!.Code);
        Assert.Contains("SsdBytes", refusal.Message);
        Assert.True(acknowledged > 0);
        await ns.CommitAsync();
        Assert.True(DiskUsage.Bytes(Path.Combine(_folder.Path, "files")) <= policy.SsdBytes + policy.SegmentBytes);
        for (int i = 0; i < acknowledged; i++)
        {
            using var got = await ns.GetAsync(TestOptions.Key(i));
            Assert.NotNull(got);
            Assert.True(TestOptions.Value(i, size).AsSpan().SequenceEqual(got!.Span), $"key {i}");
        }
        var stats = ns.GetStats();
        Assert.Equal(0, stats.Evictions);
        Assert.Equal(1, stats.OutOfSpaceRejections);
    }

    [Fact]
    public async Task A_pinned_key_survives_eviction_until_its_pin_expires()
    {
        var options = TestOptions.Engine(_folder.Path);
        await using var engine = await CacheEngine.OpenAsync(options);
        var ns = engine.GetNamespace("kv");
        const int size = 200 * 1024;
        var pinned = TestOptions.Value(-1, 600_000);
        await ns.PutAsync(TestOptions.Key(-1), pinned);
        ns.Pin(TestOptions.Key(-1), DateTimeOffset.UtcNow.AddHours(1));
        await ns.PutAsync(TestOptions.Key(-2), TestOptions.Value(-2, size));
        int count = (int)(2 * options.Namespaces["kv"].SsdBytes / size);
        for (int i = 0; i < count; i++) await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, size));
        Assert.True(ns.GetStats().Evictions > 0);
        Assert.Null(await ns.GetAsync(TestOptions.Key(-2)));
        using var got = await ns.GetAsync(TestOptions.Key(-1));
        Assert.NotNull(got);
        Assert.True(pinned.AsSpan().SequenceEqual(got!.Span));
    }

    [Fact]
    public async Task Several_pinned_multi_chunk_values_survive_repeated_eviction()
    {
        var options = TestOptions.Engine(_folder.Path);
        options.Namespaces["kv"].SsdBytes = ByteSize.FromMiB(32);
        await using var engine = await CacheEngine.OpenAsync(options);
        var ns = engine.GetNamespace("kv");
        var pinned = Enumerable.Range(0, 4).Select(i => TestOptions.Value(100 + i, 300 * 1024)).ToList();
        for (int i = 0; i < pinned.Count; i++)
        {
            await ns.PutAsync(TestOptions.Key(100 + i), pinned[i]);
            ns.Pin(TestOptions.Key(100 + i), DateTimeOffset.UtcNow.AddHours(1));
        }
        for (int i = 0; i < 96; i++) await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, 1024 * 1024));
        Assert.True(ns.GetStats().Evictions > 2);
        for (int i = 0; i < pinned.Count; i++)
        {
            using var got = await ns.GetAsync(TestOptions.Key(100 + i));
            Assert.True(got != null, $"pinned value {i} was evicted");
            Assert.True(pinned[i].AsSpan().SequenceEqual(got!.Span));
        }
    }

    [Fact]
    public async Task Impossible_layouts_are_refused_at_open_with_the_setting_named()
    {
        var options = TestOptions.Engine(_folder.Path);
        options.Namespaces["kv"].ChunkBytes = ByteSize.FromMiB(2);
        var ex = await Assert.ThrowsAsync<CacheException>(() => CacheEngine.OpenAsync(options));
        Assert.Contains("ChunkBytes", ex.Message);
        options = TestOptions.Engine(_folder.Path);
        options.Namespaces["kv"].SsdBytes = ByteSize.FromMiB(10);
        ex = await Assert.ThrowsAsync<CacheException>(() => CacheEngine.OpenAsync(options));
        Assert.Contains("SsdBytes", ex.Message);
    }
}
