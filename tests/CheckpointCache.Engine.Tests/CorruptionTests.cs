namespace CheckpointCache.Engine.Tests;

/// <summary>Bytes flipped on disk read as misses with a counted corruption event, never as wrong bytes.</summary>
public sealed class CorruptionTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Flipped_bytes_in_segment_files_are_misses_never_wrong_bytes()
    {
        var options = TestOptions.Engine(_folder.Path);
        var sizes = new[] { 50_000, 200_000, 700_000 };
        const int count = 60;
        await using (var engine = await CacheEngine.OpenAsync(options))
        {
            var ns = engine.GetNamespace("kv");
            for (int i = 0; i < count; i++) await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, sizes[i % 3]));
            await ns.CommitAsync();
        }

        // Flip one byte in the payload of every fourth value, found by searching the segment files for it.
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(_folder.Path, "kv", "log")));
        var damaged = SegmentDamage.FlipValues(Path.Combine(_folder.Path, "kv", "log"), count, i => i % 4 == 0, i => TestOptions.Value(i, sizes[i % 3]));
        Assert.True(damaged.Count >= 10, $"only {damaged.Count} values were found on disk to damage");

        await using (var engine = await CacheEngine.OpenAsync(options))
        {
            var ns = engine.GetNamespace("kv");
            for (int i = 0; i < count; i++)
            {
                using var got = await ns.GetAsync(TestOptions.Key(i));
                if (damaged.Contains(i))
                {
                    Assert.Null(got);
                }
                else
                {
                    Assert.NotNull(got);
                    Assert.True(TestOptions.Value(i, sizes[i % 3]).AsSpan().SequenceEqual(got!.Span), $"key {i}");
                }
            }
            Assert.Equal(damaged.Count, ns.GetStats().CorruptionEvents);
            // A corrupt value is removed: asking again is a plain miss, not another corruption event.
            foreach (var i in damaged) Assert.Equal(Tier.None, await ns.ExistsAsync(TestOptions.Key(i)));
            Assert.Equal(damaged.Count, ns.GetStats().CorruptionEvents);
        }
    }

    [Fact]
    public async Task Garbage_over_whole_pages_never_yields_wrong_bytes()
    {
        var options = TestOptions.Engine(_folder.Path);
        const int count = 40;
        await using (var engine = await CacheEngine.OpenAsync(options))
        {
            var ns = engine.GetNamespace("kv");
            for (int i = 0; i < count; i++) await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, 120_000));
            await ns.CommitAsync();
        }
        var random = new Random(7);
        foreach (var segment in Directory.GetFiles(Path.Combine(_folder.Path, "kv", "log")))
        {
            using var file = new FileStream(segment, FileMode.Open, FileAccess.ReadWrite);
            for (int hit = 0; hit < 200; hit++)
            {
                file.Position = random.NextInt64(file.Length);
                file.WriteByte((byte)random.Next(256));
            }
        }
        await using (var engine = await CacheEngine.OpenAsync(options))
        {
            var ns = engine.GetNamespace("kv");
            int hits = 0;
            for (int i = 0; i < count; i++)
            {
                using var got = await ns.GetAsync(TestOptions.Key(i));
                if (got == null) continue;
                hits++;
                Assert.True(TestOptions.Value(i, 120_000).AsSpan().SequenceEqual(got.Span), $"key {i} returned wrong bytes");
            }
            Assert.True(ns.GetStats().CorruptionEvents + (count - hits) > 0);
        }
    }
}
