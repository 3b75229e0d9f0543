using CheckpointCache.Engine.Options;

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
        // Uncapped: this test is about which hit promotes; the budget has its own test below.
        options.Namespaces["kv"].PromoteBudget = 1;
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

    [Theory]
    [InlineData(0.0, 0)]
    [InlineData(0.5, 10)]   // every other hit: half the bytes read come back as writes
    [InlineData(0.25, 5)]   // one hit in four
    public async Task Promotion_writes_at_most_its_budget_of_what_ssd_hits_read(double budget, int promoted)
    {
        var options = TestOptions.Engine(_folder.Path);
        options.Namespaces["kv"].PromoteAfterHits = 1;
        options.Namespaces["kv"].PromoteBudget = budget;
        await using var engine = await CacheEngine.OpenAsync(options);
        var ns = engine.GetNamespace("kv");
        for (int i = 0; i <= 150; i++) await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, 100_000));
        var store = ((CheckpointCache.Engine.Storage.CacheNamespace)ns).Store;
        long tail = store.TailAddress;
        // Twenty SSD-resident values, each read once, one after another, every one eligible (PromoteAfterHits 1).
        int ram = 0;
        for (int i = 0; i < 20; i++)
        {
            using (var got = await ns.GetAsync(TestOptions.Key(i))) Assert.Equal(Tier.Ssd, got!.Tier);
            if (await ns.ExistsAsync(TestOptions.Key(i)) == Tier.Ram) ram++;
        }
        Assert.Equal(promoted, ram);
        // Each promotion appended one copy of its value at the tail (plus the end of a 1 MiB page that a record
        // did not fit), and nothing else did.
        long grown = store.TailAddress - tail;
        Assert.InRange(grown, promoted * 100_000L, promoted * 101_000L + 1024 * 1024);
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

    [Fact]
    public async Task A_preallocated_ram_tier_holds_its_whole_budget_from_the_start_and_works_the_same()
    {
        Assert.True(new Options.NamespaceOptions { Kind = NamespaceKind.Files }.IsPreallocateRam);
        Assert.True(new Options.NamespaceOptions { Kind = NamespaceKind.Kv }.IsPreallocateRam);
        var options = TestOptions.Engine(_folder.Path);
        options.Namespaces["kv"].PreallocateRam = true;
        options.Namespaces["files"].PreallocateRam = false;
        await using var engine = await CacheEngine.OpenAsync(options);
        var preallocated = (Storage.CacheNamespace)engine.GetNamespace("kv");
        var lazy = (Storage.CacheNamespace)engine.GetNamespace("files");
        // All 8 pages of 1 MiB at once, against the few the log has touched so far.
        Assert.Equal(options.Namespaces["kv"].RamBytes.Bytes, preallocated.Store.MemoryBytes);
        Assert.True(lazy.Store.MemoryBytes < options.Namespaces["files"].RamBytes.Bytes, $"lazy store holds {lazy.Store.MemoryBytes} bytes");

        // Past the RAM tier and back: the values read back whole, from RAM and from SSD.
        for (int i = 0; i < 120; i++) await preallocated.PutAsync(TestOptions.Key(i), TestOptions.Value(i, 100_000));
        Assert.Equal(Tier.Ssd, await preallocated.ExistsAsync(TestOptions.Key(0)));
        foreach (int i in new[] { 0, 60, 119 })
        {
            using var got = await preallocated.GetAsync(TestOptions.Key(i));
            Assert.True(TestOptions.Value(i, 100_000).AsSpan().SequenceEqual(got!.Span));
        }
        Assert.Equal(options.Namespaces["kv"].RamBytes.Bytes, preallocated.Store.MemoryBytes);
    }

    [Fact]
    public async Task A_ram_tier_that_is_not_a_power_of_two_is_not_preallocated_past_its_budget()
    {
        var options = TestOptions.Engine(_folder.Path);
        // FASTER's buffer is 8 pages of 1 MiB; the budget is 6 of them.
        options.Namespaces["kv"].RamBytes = ByteSize.FromMiB(6);
        options.Namespaces["kv"].PreallocateRam = true;
        await using var engine = await CacheEngine.OpenAsync(options);
        var ns = (Storage.CacheNamespace)engine.GetNamespace("kv");
        Assert.True(ns.Store.MemoryBytes < ByteSize.FromMiB(6).Bytes, $"store holds {ns.Store.MemoryBytes} bytes at open");

        for (int i = 0; i < 100; i++) await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, 100_000));
        using var got = await ns.GetAsync(TestOptions.Key(0));
        Assert.True(TestOptions.Value(0, 100_000).AsSpan().SequenceEqual(got!.Span));
        Assert.Equal(Tier.Ssd, got.Tier);
    }

    [Fact]
    public async Task By_default_a_page_is_flushed_as_soon_as_the_tail_leaves_it()
    {
        Assert.Equal(0, new Options.NamespaceOptions().MutableFraction);
        var options = TestOptions.Engine(_folder.Path);
        await using var engine = await CacheEngine.OpenAsync(options);
        var ns = (Storage.CacheNamespace)engine.GetNamespace("kv");
        // About 5 of the RAM tier's 8 pages: with a mutable region of half of them, the last 3 would stay unflushed.
        for (int i = 0; i < 50; i++) await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, 100_000));
        long tailPage = ns.Store.TailAddress & ~(ns.Store.PageBytes - 1);
        Assert.True(tailPage >= 4 * ns.Store.PageBytes, $"tail {ns.Store.TailAddress}");
        Assert.Equal(tailPage, ns.Store.ReadOnlyAddress);
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public async Task A_mutable_fraction_outside_0_to_1_is_refused_with_its_name(double fraction)
    {
        var options = TestOptions.Engine(_folder.Path);
        options.Namespaces["kv"].MutableFraction = fraction;
        var error = await Assert.ThrowsAsync<CacheException>(async () => await CacheEngine.OpenAsync(options));
        Assert.Equal(CacheErrorCode.InvalidArgument, error.Code);
        Assert.Contains("MutableFraction", error.Message);
    }
    [Fact]
    public async Task An_ssd_hit_promotes_only_once_read_twice_as_often_as_the_value_it_would_push_out_of_ram()
    {
        Assert.Equal(2, new Options.NamespaceOptions().PromoteFrequencyRatio);
        var options = TestOptions.Engine(_folder.Path);
        options.Namespaces["kv"].PromoteAfterHits = 1;
        options.Namespaces["kv"].PromoteBudget = 1;
        await using var engine = await CacheEngine.OpenAsync(options);
        var ns = (Storage.CacheNamespace)engine.GetNamespace("kv");
        await FillAndReadWhatIsInRamAsync(ns, rounds: 3);
        long tail = ns.Store.TailAddress;
        // Value 0, on SSD: its reads 1 to 6 (counted before each: 0 to 5) are not more than twice the victim's 3.
        for (int read = 1; read <= 6; read++)
        {
            using (var got = await ns.GetAsync(TestOptions.Key(0)))
            {
                Assert.Equal(Tier.Ssd, got!.Tier);
                Assert.True(TestOptions.Value(0, 100_000).AsSpan().SequenceEqual(got.Span));
            }
            Assert.Equal(Tier.Ssd, await ns.ExistsAsync(TestOptions.Key(0)));
        }
        Assert.Equal(tail, ns.Store.TailAddress);
        // The seventh: 6 earlier reads + this one > 2 x 3, so it comes back to RAM.
        using (var got = await ns.GetAsync(TestOptions.Key(0))) Assert.Equal(Tier.Ssd, got!.Tier);
        Assert.Equal(Tier.Ram, await ns.ExistsAsync(TestOptions.Key(0)));
        Assert.InRange(ns.Store.TailAddress - tail, 100_000, 101_000 + 1024 * 1024);
    }

    [Fact]
    public async Task With_the_frequency_comparison_off_every_eligible_ssd_hit_promotes()
    {
        var options = TestOptions.Engine(_folder.Path);
        options.Namespaces["kv"].PromoteAfterHits = 1;
        options.Namespaces["kv"].PromoteBudget = 1;
        options.Namespaces["kv"].PromoteFrequencyRatio = 0;
        await using var engine = await CacheEngine.OpenAsync(options);
        var ns = (Storage.CacheNamespace)engine.GetNamespace("kv");
        await FillAndReadWhatIsInRamAsync(ns, rounds: 3);
        using (var got = await ns.GetAsync(TestOptions.Key(0))) Assert.Equal(Tier.Ssd, got!.Tier);
        Assert.Equal(Tier.Ram, await ns.ExistsAsync(TestOptions.Key(0)));
    }

    /// <summary>Values 0-150 of 100 KB (value 0 then on SSD), then every value still in RAM read <paramref name="rounds"/> times.</summary>
    private static async Task FillAndReadWhatIsInRamAsync(Storage.CacheNamespace ns, int rounds)
    {
        for (int i = 0; i <= 150; i++) await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, 100_000));
        // The oldest of them is the value a promotion pushes out of RAM.
        var inRam = new List<int>();
        for (int i = 0; i <= 150; i++) if (await ns.ExistsAsync(TestOptions.Key(i)) == Tier.Ram) inRam.Add(i);
        Assert.True(inRam.Count > 10, $"{inRam.Count} values in RAM");
        Assert.Equal(Tier.Ssd, await ns.ExistsAsync(TestOptions.Key(0)));
        for (int round = 0; round < rounds; round++)
            foreach (int i in inRam)
            {
                using var got = await ns.GetAsync(TestOptions.Key(i));
                Assert.Equal(Tier.Ram, got!.Tier);
            }
    }

    [Theory]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public async Task A_promote_frequency_ratio_below_0_or_not_finite_is_refused_with_its_name(double ratio)
    {
        var options = TestOptions.Engine(_folder.Path);
        options.Namespaces["kv"].PromoteFrequencyRatio = ratio;
        var error = await Assert.ThrowsAsync<CacheException>(async () => await CacheEngine.OpenAsync(options));
        Assert.Equal(CacheErrorCode.InvalidArgument, error.Code);
        Assert.Contains("PromoteFrequencyRatio", error.Message);
    }
    [Fact]
    public async Task Commits_taken_while_other_writers_run_cover_every_value_they_waited_for()
    {
        var options = TestOptions.Engine(_folder.Path, directIo: true);
        await using (var engine = await CacheEngine.OpenAsync(options))
        {
            var ns = (Storage.CacheNamespace)engine.GetNamespace("files");
            long before = ns.Checkpoints.Checkpoints;
            // Writers and commits at once, as files closing while others are still written.
            var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
            {
                for (int i = 0; i < 30; i++)
                {
                    await ns.PutAsync(TestOptions.Key(w * 100 + i), TestOptions.Value(w * 100 + i, 200_000));
                    if (i % 10 == 9)
                    {
                        long version = ns.Store.Faster.SystemState.Version;
                        await ns.CommitAsync();
                        // Returned only after a checkpoint that started after this call had completed (moved the version on).
                        Assert.True(ns.Store.Faster.SystemState.Version > version, $"commit returned at version {version}");
                    }
                }
            })).ToArray();
            await Task.WhenAll(writers);
            Assert.True(ns.Checkpoints.Checkpoints > before, "no checkpoint was taken");
            Assert.False(ns.Store.Fence.IsRaised, "every checkpoint lowered its fence");
        }
        // Reopened: every value a commit waited for is there.
        await using (var engine = await CacheEngine.OpenAsync(options))
        {
            var ns = engine.GetNamespace("files");
            for (int w = 0; w < 4; w++)
                for (int i = 0; i < 30; i++)
                {
                    using var got = await ns.GetAsync(TestOptions.Key(w * 100 + i));
                    Assert.True(TestOptions.Value(w * 100 + i, 200_000).AsSpan().SequenceEqual(got!.Span), $"writer {w} value {i}");
                }
        }
    }

    [Fact]
    public async Task A_write_arriving_while_a_checkpoint_runs_waits_outside_the_store_and_lands_after_it()
    {
        var options = TestOptions.Engine(_folder.Path, directIo: true);
        await using var engine = await CacheEngine.OpenAsync(options);
        var ns = (Storage.CacheNamespace)engine.GetNamespace("files");
        long tail = ns.Store.TailAddress;
        ns.Store.Fence.Raise();
        var put = ns.PutAsync(TestOptions.Key(1), TestOptions.Value(1, 300_000)).AsTask();
        await Task.Delay(200);
        // Held back before FASTER: nothing was appended, the write did not complete.
        Assert.False(put.IsCompleted);
        Assert.Equal(tail, ns.Store.TailAddress);
        ns.Store.Fence.Lower();
        await put;
        Assert.True(ns.Store.TailAddress > tail);
        using var got = await ns.GetAsync(TestOptions.Key(1));
        Assert.True(TestOptions.Value(1, 300_000).AsSpan().SequenceEqual(got!.Span));
        await ns.CommitAsync();
        Assert.False(ns.Store.Fence.IsRaised);
    }
}
