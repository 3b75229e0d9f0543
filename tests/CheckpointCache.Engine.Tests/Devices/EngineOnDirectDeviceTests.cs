using CheckpointCache.Engine.Options;

namespace CheckpointCache.Engine.Tests.Devices;

/// <summary>The engine with DirectIo on, i.e. every namespace log on a DirectFileDevice.</summary>
public sealed class EngineOnDirectDeviceTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData(0)]
    [InlineData(64 * 1024)] // disk reads cut into 64 KiB pieces read at once
    public async Task Committed_values_come_back_byte_exact_from_ssd_after_a_restart(int readPieceBytes)
    {
        var options = TestOptions.Engine(_folder.Path, directIo: true);
        options.ReadPieceBytes = new ByteSize(readPieceBytes);
        var sizes = new[] { 4096, 100_000, 254 * 1024, 600_000, 2_000_000 };
        await using (var engine = await CacheEngine.OpenAsync(options))
        {
            var ns = engine.GetNamespace("kv");
            for (int i = 0; i < 40; i++)
                await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, sizes[i % sizes.Length]));
            await ns.CommitAsync();
        }

        await using (var engine = await CacheEngine.OpenAsync(options))
        {
            var ns = engine.GetNamespace("kv");
            for (int i = 0; i < 40; i++)
            {
                using var got = await ns.GetAsync(TestOptions.Key(i));
                Assert.NotNull(got);
                Assert.True(TestOptions.Value(i, sizes[i % sizes.Length]).AsSpan().SequenceEqual(got!.Span), $"key {i}");
            }
            Assert.True(ns.GetStats().SsdHits > 0, "recovered values are read from the SSD tier");
        }
        Assert.True(File.Exists(Path.Combine(_folder.Path, "kv", "log", "hlog.0")), "the log lives in the device's segment files");
    }
    [Fact]
    public async Task A_value_of_the_read_hint_size_comes_from_ssd_in_one_disk_read_wherever_its_record_starts()
    {
        var options = TestOptions.Engine(_folder.Path, directIo: true);
        options.Namespaces["kv"].PromoteOnHit = false;
        int hint = (int)options.Namespaces["kv"].ReadHintBytes.Bytes;
        await using var engine = await CacheEngine.OpenAsync(options);
        var ns = (Storage.CacheNamespace)engine.GetNamespace("kv");
        // Keys of different lengths put the records at every offset within a sector.
        var keys = Enumerable.Range(0, 400).Select(i => TestOptions.Key(i).Concat(new byte[i % 61]).ToArray()).ToArray();
        for (int i = 0; i < keys.Length; i++) await ns.PutAsync(keys[i], TestOptions.Value(i, hint));
        var counters = ((CheckpointCache.Engine.Devices.DirectFileDevice)ns.Store.Device).Counters;
        int ssdHits = 0;
        long readsBefore = counters.Reads;
        for (int i = 0; i < 200; i++)
        {
            using var got = await ns.GetAsync(keys[i]);
            Assert.True(TestOptions.Value(i, hint).AsSpan().SequenceEqual(got!.Span), $"key {i}");
            if (got.Tier == Tier.Ssd) ssdHits++;
        }
        Assert.True(ssdHits > 100, $"{ssdHits} SSD hits");
        Assert.Equal(ssdHits, counters.Reads - readsBefore);
    }
}
