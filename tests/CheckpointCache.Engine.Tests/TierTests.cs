namespace CheckpointCache.Engine.Tests;

public sealed class TierTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Values_move_from_ram_to_ssd_and_ssd_hits_are_promoted_back_when_the_policy_says_so()
    {
        var options = TestOptions.Engine(_folder.Path);
        options.Namespaces["files"].PromoteOnHit = false;
        await using var engine = await CacheEngine.OpenAsync(options);
        foreach (var (name, promotes) in new[] { ("kv", true), ("files", false) })
        {
            var ns = engine.GetNamespace(name);
            var first = TestOptions.Value(0, 100_000);
            await ns.PutAsync(TestOptions.Key(0), first);
            // Push the first value out of the 8 MiB RAM tier.
            for (int i = 1; i <= 150; i++) await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, 100_000));
            Assert.Equal(Tier.Ssd, await ns.ExistsAsync(TestOptions.Key(0)));
            using (var got = await ns.GetAsync(TestOptions.Key(0)))
            {
                Assert.Equal(Tier.Ssd, got!.Tier);
                Assert.True(first.AsSpan().SequenceEqual(got.Span));
            }
            Assert.Equal(promotes ? Tier.Ram : Tier.Ssd, await ns.ExistsAsync(TestOptions.Key(0)));
            var stats = ns.GetStats();
            Assert.Equal(1, stats.SsdHits);
            Assert.Equal(100_000, stats.SsdBytesRead);
            Assert.InRange(stats.RamBytesUsed, 1, options.Namespaces[name].RamBytes.Bytes);
            // At least what left the 8 MiB RAM tier of the 15 MB written is on disk.
            Assert.True(stats.SsdBytesUsed > 6 << 20, $"SSD use {stats.SsdBytesUsed}");
        }
    }
}
