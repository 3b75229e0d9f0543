namespace CheckpointCache.Engine.Tests;

/// <summary>
/// Pinned namespaces give back the space of deleted and replaced values by compaction when they fill up:
/// the checkpoint-rotation pattern (write a new one, delete the oldest) must run forever in a bounded budget.
/// </summary>
public sealed class CompactionTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static byte[] Key(int checkpoint, int part) => System.Text.Encoding.UTF8.GetBytes($"ckpt-{checkpoint:D4}/part-{part:D3}");

    // Each part is chunked (larger than ChunkBytes), so chunks and manifests both move.
    private const int PartBytes = 700 * 1024;
    private const int PartsPerCheckpoint = 8;

    private static byte[] Part(int checkpoint, int part) => TestOptions.Value(checkpoint * 1000 + part, PartBytes);

    [Fact]
    public async Task Rotating_checkpoints_in_a_pinned_namespace_runs_far_past_its_budget_and_keeps_what_it_kept()
    {
        var options = TestOptions.Engine(_folder.Path);
        var policy = options.Namespaces["files"];
        long written = 0;
        const int keep = 2;
        int checkpoints;
        await using (var engine = await CacheEngine.OpenAsync(options))
        {
            var ns = engine.GetNamespace("files");
            // Write ~4x the SSD budget in all, keeping only the last two checkpoints.
            checkpoints = (int)(4 * policy.SsdBytes / ((long)PartBytes * PartsPerCheckpoint)) + 1;
            for (int c = 0; c < checkpoints; c++)
            {
                for (int p = 0; p < PartsPerCheckpoint; p++)
                {
                    await ns.PutAsync(Key(c, p), Part(c, p));
                    written += PartBytes;
                }
                await ns.CommitAsync();
                if (c >= keep)
                    for (int p = 0; p < PartsPerCheckpoint; p++) Assert.True(await ns.DeleteAsync(Key(c - keep, p)));
                Assert.True(DiskUsage.Bytes(Path.Combine(_folder.Path, "files")) <= policy.SsdBytes + policy.SegmentBytes,
                    $"after checkpoint {c}: the folder is over its budget");
            }
            Assert.True(written > 3 * policy.SsdBytes);
            var stats = ns.GetStats();
            Assert.Equal(0, stats.OutOfSpaceRejections);
            Assert.Equal(0, stats.Evictions);
            Assert.True(stats.CompactionFreedBytes > policy.SsdBytes, $"compaction freed {stats.CompactionFreedBytes} bytes");
            await AssertKeptAsync(ns, checkpoints, keep);
        }

        // Compaction is made durable by a checkpoint: a restart finds the same values, and the deleted ones stay deleted.
        await using (var engine = await CacheEngine.OpenAsync(options))
        {
            var ns = engine.GetNamespace("files");
            await AssertKeptAsync(ns, checkpoints, keep);
            Assert.True(DiskUsage.Bytes(Path.Combine(_folder.Path, "files")) <= policy.SsdBytes + policy.SegmentBytes);
        }
    }

    private static async Task AssertKeptAsync(ICacheNamespace ns, int checkpoints, int keep)
    {
        for (int c = 0; c < checkpoints; c++)
        {
            for (int p = 0; p < PartsPerCheckpoint; p++)
            {
                using var got = await ns.GetAsync(Key(c, p));
                if (c < checkpoints - keep)
                {
                    Assert.Null(got);
                    continue;
                }
                Assert.NotNull(got);
                Assert.True(Part(c, p).AsSpan().SequenceEqual(got!.Span), $"checkpoint {c} part {p}");
            }
        }
    }

    [Fact]
    public async Task Overwritten_values_are_compacted_and_the_latest_version_of_each_survives()
    {
        var options = TestOptions.Engine(_folder.Path);
        var policy = options.Namespaces["files"];
        await using var engine = await CacheEngine.OpenAsync(options);
        var ns = engine.GetNamespace("files");
        const int keys = 6;
        int rounds = (int)(3 * policy.SsdBytes / ((long)PartBytes * keys)) + 1;
        for (int r = 0; r < rounds; r++)
            for (int k = 0; k < keys; k++)
                await ns.PutAsync(Key(0, k), Part(r, k));
        await ns.CommitAsync();
        for (int k = 0; k < keys; k++)
        {
            using var got = await ns.GetAsync(Key(0, k));
            Assert.NotNull(got);
            Assert.True(Part(rounds - 1, k).AsSpan().SequenceEqual(got!.Span), $"key {k}");
        }
        Assert.Equal(0, ns.GetStats().OutOfSpaceRejections);
        Assert.True(DiskUsage.Bytes(Path.Combine(_folder.Path, "files")) <= policy.SsdBytes + policy.SegmentBytes);
    }

    [Fact]
    public async Task A_pinned_namespace_full_of_live_data_still_refuses_and_a_delete_makes_room_again()
    {
        var options = TestOptions.Engine(_folder.Path);
        var policy = options.Namespaces["files"];
        await using var engine = await CacheEngine.OpenAsync(options);
        var ns = engine.GetNamespace("files");
        int acknowledged = 0;
        CacheException? refusal = null;
        for (int i = 0; i < 3 * policy.SsdBytes / PartBytes; i++)
        {
            try
            {
                await ns.PutAsync(Key(1, i), Part(1, i));
                acknowledged++;
            }
            catch (CacheException ex)
            {
                refusal = ex;
                break;
            }
        }
        Assert.Equal(CacheErrorCode.OutOfSpace, refusal?.Code);
        // Refused again at once: no garbage is known, so the log is not rescanned.
        Assert.Equal(CacheErrorCode.OutOfSpace, (await Assert.ThrowsAsync<CacheException>(() => ns.PutAsync(Key(2, 0), Part(2, 0)).AsTask())).Code);

        // Deleting a quarter of the values makes room for new ones of the same size.
        int deleted = acknowledged / 4;
        for (int i = 0; i < deleted; i++) Assert.True(await ns.DeleteAsync(Key(1, i)));
        for (int i = 0; i < deleted / 2; i++) await ns.PutAsync(Key(3, i), Part(3, i));
        await ns.CommitAsync();

        for (int i = deleted; i < acknowledged; i++)
        {
            using var got = await ns.GetAsync(Key(1, i));
            Assert.NotNull(got);
            Assert.True(Part(1, i).AsSpan().SequenceEqual(got!.Span), $"old {i}");
        }
        for (int i = 0; i < deleted / 2; i++)
        {
            using var got = await ns.GetAsync(Key(3, i));
            Assert.NotNull(got);
            Assert.True(Part(3, i).AsSpan().SequenceEqual(got!.Span), $"new {i}");
        }
        Assert.True(DiskUsage.Bytes(Path.Combine(_folder.Path, "files")) <= policy.SsdBytes + policy.SegmentBytes);
    }
}
