namespace CheckpointCache.Engine.Tests;

/// <summary>
/// ReadIntoAsync: a whole value copied once into the caller's memory, from RAM or from disk; a destination too
/// small gets nothing and leaves the value alone; a damaged value is a miss and never lands as wrong bytes.
/// </summary>
public sealed class ReadIntoTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData(0)]
    [InlineData(1000)]
    [InlineData(255 * 1024)]          // one chunk: inline, copied by the root read itself
    [InlineData(255 * 1024 + 1)]      // a manifest and two chunks
    [InlineData(3 * 1024 * 1024 + 7)]
    public async Task A_value_lands_whole_in_the_destination_and_nothing_past_it(int length)
    {
        var value = TestOptions.Value(length, length);
        await using var engine = await CacheEngine.OpenAsync(TestOptions.Engine(_folder.Path));
        var ns = engine.GetNamespace("kv");
        await ns.PutAsync(TestOptions.Key(1), value);
        await AssertReadsBackAsync(ns, value, Tier.Ram);
        // Pushed out of the 8 MiB RAM tier, its records are read from the disk: pending reads that copy into the
        // destination when the I/O completes.
        for (int i = 2; i <= 150; i++) await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, 100_000));
        await AssertReadsBackAsync(ns, value, Tier.Ssd);
    }

    private static async Task AssertReadsBackAsync(ICacheNamespace ns, byte[] value, Tier tier)
    {
        var destination = new byte[value.Length + 100];
        destination.AsSpan().Fill(0xEE);
        var read = await ns.ReadIntoAsync(TestOptions.Key(1), destination);
        Assert.Equal(ReadIntoOutcome.Hit, read.Outcome);
        Assert.Equal(value.Length, read.Length);
        if (value.Length > 0) Assert.Equal(tier, read.Tier);
        Assert.True(value.AsSpan().SequenceEqual(destination.AsSpan(0, value.Length)));
        Assert.All(destination[value.Length..], b => Assert.Equal(0xEE, b));

        if (value.Length == 0) return;
        var small = new byte[value.Length - 1];
        small.AsSpan().Fill(0xEE);
        var tooSmall = await ns.ReadIntoAsync(TestOptions.Key(1), small);
        Assert.Equal(ReadIntoOutcome.TooSmall, tooSmall.Outcome);
        Assert.Equal(value.Length, tooSmall.Length);
        Assert.All(small, b => Assert.Equal(0xEE, b));
        // Not fitting is not damage: the value is still there, and no corruption was counted.
        using var again = await ns.GetAsync(TestOptions.Key(1));
        Assert.NotNull(again);
        Assert.True(value.AsSpan().SequenceEqual(again!.Span));
        Assert.Equal(0, ns.GetStats().CorruptionEvents);
    }

    [Fact]
    public async Task A_missing_key_is_a_miss_and_a_damaged_value_never_lands_as_wrong_bytes()
    {
        var options = TestOptions.Engine(_folder.Path);
        var sizes = new[] { 50_000, 700_000 };
        const int count = 24;
        await using (var engine = await CacheEngine.OpenAsync(options))
        {
            var ns = engine.GetNamespace("kv");
            Assert.Equal(ReadIntoOutcome.Miss, (await ns.ReadIntoAsync(TestOptions.Key(999), new byte[10])).Outcome);
            for (int i = 0; i < count; i++) await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, sizes[i % 2]));
            await ns.CommitAsync();
        }

        var damaged = SegmentDamage.FlipValues(Path.Combine(_folder.Path, "kv", "log"), count, i => i % 3 == 0, i => TestOptions.Value(i, sizes[i % 2]));
        Assert.True(damaged.Count >= 4, $"only {damaged.Count} values were found on disk to damage");

        await using (var engine = await CacheEngine.OpenAsync(options))
        {
            var ns = engine.GetNamespace("kv");
            var destination = new byte[1024 * 1024];
            for (int i = 0; i < count; i++)
            {
                var expected = TestOptions.Value(i, sizes[i % 2]);
                var read = await ns.ReadIntoAsync(TestOptions.Key(i), destination);
                if (damaged.Contains(i)) Assert.Equal(ReadIntoOutcome.Miss, read.Outcome);
                else
                {
                    Assert.Equal(ReadIntoOutcome.Hit, read.Outcome);
                    Assert.True(expected.AsSpan().SequenceEqual(destination.AsSpan(0, (int)read.Length)), $"key {i}");
                }
            }
            Assert.Equal(damaged.Count, ns.GetStats().CorruptionEvents);
        }
    }
}
