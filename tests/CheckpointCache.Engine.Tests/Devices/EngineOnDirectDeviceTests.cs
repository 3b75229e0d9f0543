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
}
