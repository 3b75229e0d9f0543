namespace CheckpointCache.Engine.Tests;

public sealed class ConcurrencyTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Many_concurrent_callers_read_and_write_consistently()
    {
        await using var engine = await CacheEngine.OpenAsync(TestOptions.Engine(_folder.Path));
        var ns = engine.GetNamespace("kv");
        var sizes = new[] { 1000, 60_000, 254 * 1024, 500_000 };
        const int keys = 64;
        // Each key only ever holds a value derived from (key, version), so any read can be checked.
        static byte[] ValueOf(int key, int version, int length) => TestOptions.Value(key * 1000 + version, length);
        var tasks = Enumerable.Range(0, 16).Select(worker => Task.Run(async () =>
        {
            var random = new Random(worker);
            for (int op = 0; op < 60; op++)
            {
                int key = random.Next(keys);
                int version = random.Next(3);
                int length = sizes[(key + version) % sizes.Length];
                switch (random.Next(4))
                {
                    case 0:
                    case 1:
                        await ns.PutAsync(TestOptions.Key(key), ValueOf(key, version, length));
                        break;
                    case 2:
                        using (var got = await ns.GetAsync(TestOptions.Key(key)))
                        {
                            if (got == null) break;
                            bool matches = Enumerable.Range(0, 3).Any(v =>
                                got.Length == sizes[(key + v) % sizes.Length] && ValueOf(key, v, got.Length).AsSpan().SequenceEqual(got.Span));
                            Assert.True(matches, $"key {key} returned bytes of no version that was written");
                        }
                        break;
                    default:
                        if (random.Next(8) == 0) await ns.DeleteAsync(TestOptions.Key(key));
                        else await ns.CommitAsync();
                        break;
                }
            }
        })).ToArray();
        await Task.WhenAll(tasks);
        var stats = ns.GetStats();
        Assert.True(stats.Puts > 0 && stats.RamHits > 0);
        Assert.Equal(0, stats.CorruptionEvents);
    }

    [Fact]
    public async Task A_cancelled_streamed_write_publishes_nothing()
    {
        await using var engine = await CacheEngine.OpenAsync(TestOptions.Engine(_folder.Path));
        var ns = engine.GetNamespace("kv");
        await ns.PutAsync(TestOptions.Key(1), TestOptions.Value(1, 400_000));
        using var cts = new CancellationTokenSource();
        await using (var writer = ns.BeginPut(TestOptions.Key(1), 2_000_000))
        {
            await writer.WriteAsync(TestOptions.Value(2, 1_000_000), cts.Token);
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await writer.WriteAsync(new byte[1_000_000], cts.Token));
        }
        using var got = await ns.GetAsync(TestOptions.Key(1));
        Assert.True(TestOptions.Value(1, 400_000).AsSpan().SequenceEqual(got!.Span), "the old value is intact");
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await ns.GetAsync(TestOptions.Key(1), cts.Token));
    }
}
