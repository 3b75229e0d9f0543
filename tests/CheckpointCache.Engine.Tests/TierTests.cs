namespace CheckpointCache.Engine.Tests;

public sealed class TierTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData(2)]
    [InlineData(1)]
    public async Task Values_move_from_ram_to_ssd_and_ssd_hits_are_promoted_back_when_the_policy_says_so(int promoteAfterHits)
    {
        var options = TestOptions.Engine(_folder.Path);
        options.Namespaces["files"].PromoteOnHit = false;
        options.Namespaces["kv"].PromoteAfterHits = promoteAfterHits;
        await using var engine = await CacheEngine.OpenAsync(options);
        foreach (var (name, promotes) in new[] { ("kv", true), ("files", false) })
        {
            var ns = engine.GetNamespace(name);
            var first = TestOptions.Value(0, 100_000);
            await ns.PutAsync(TestOptions.Key(0), first);
            // Push the first value out of the 8 MiB RAM tier.
            for (int i = 1; i <= 150; i++) await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, 100_000));
            Assert.Equal(Tier.Ssd, await ns.ExistsAsync(TestOptions.Key(0)));
            int ssdHits = 0;
            for (int read = 1; read <= 3; read++)
            {
                bool promotedBefore = promotes && read > promoteAfterHits;
                using (var got = await ns.GetAsync(TestOptions.Key(0)))
                {
                    Assert.Equal(promotedBefore ? Tier.Ram : Tier.Ssd, got!.Tier);
                    Assert.True(first.AsSpan().SequenceEqual(got.Span));
                    if (got.Tier == Tier.Ssd) ssdHits++;
                }
                // Promoted by the read that is the promoteAfterHits-th SSD hit, not before.
                bool promotedNow = promotes && read >= promoteAfterHits;
                Assert.Equal(promotedNow ? Tier.Ram : Tier.Ssd, await ns.ExistsAsync(TestOptions.Key(0)));
            }
            var stats = ns.GetStats();
            Assert.Equal(ssdHits, stats.SsdHits);
            Assert.Equal(promotes ? promoteAfterHits : 3, ssdHits);
            Assert.Equal(100_000L * ssdHits, stats.SsdBytesRead);
            Assert.InRange(stats.RamBytesUsed, 1, options.Namespaces[name].RamBytes.Bytes);
            // At least what left the 8 MiB RAM tier of the 15 MB written is on disk.
            Assert.True(stats.SsdBytesUsed > 6 << 20, $"SSD use {stats.SsdBytesUsed}");
        }
    }

    [Fact]
    public async Task A_value_read_once_from_ssd_is_not_rewritten()
    {
        var options = TestOptions.Engine(_folder.Path);
        await using var engine = await CacheEngine.OpenAsync(options);
        var ns = engine.GetNamespace("kv");
        for (int i = 0; i <= 150; i++) await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, 100_000));
        var store = ((CheckpointCache.Engine.Storage.CacheNamespace)ns).Store;
        long tail = store.TailAddress;
        // Twenty different SSD-resident values, each read once: no value is rewritten, the log does not grow.
        for (int i = 0; i < 20; i++)
        {
            using var got = await ns.GetAsync(TestOptions.Key(i));
            Assert.Equal(Tier.Ssd, got!.Tier);
        }
        Assert.Equal(tail, store.TailAddress);
    }
}
