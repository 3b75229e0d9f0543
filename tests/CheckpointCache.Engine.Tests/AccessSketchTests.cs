using CheckpointCache.Engine.Storage;

namespace CheckpointCache.Engine.Tests;

public sealed class AccessSketchTests
{
    [Fact]
    public void A_keys_estimate_counts_its_reads_and_never_falls_below_them()
    {
        var sketch = new AccessSketch(1024, 1_000_000);
        var random = new Random(7);
        var reads = new Dictionary<ulong, int>();
        // 500 keys read 1 to 20 times each, interleaved.
        var keys = Enumerable.Range(0, 500).Select(_ => (ulong)random.NextInt64()).ToArray();
        var order = keys.SelectMany((k, i) => Enumerable.Repeat(k, 1 + i % 20)).OrderBy(_ => random.Next()).ToArray();
        foreach (var k in order)
        {
            sketch.Increment(k);
            reads[k] = reads.GetValueOrDefault(k) + 1;
        }
        int exact = 0;
        foreach (var (k, n) in reads)
        {
            int estimate = sketch.Estimate(k);
            Assert.True(estimate >= n, $"estimate {estimate} under {n}");
            if (estimate == n) exact++;
        }
        // Four rows of 1,024 counters for 500 keys: collisions in all four rows are rare.
        Assert.True(exact >= 480, $"{exact} of 500 exact");
        Assert.Equal(0, sketch.Estimate(12345));
    }

    [Fact]
    public void Counts_are_halved_after_each_sample_so_old_reads_fade()
    {
        var sketch = new AccessSketch(1024, 100);
        for (int i = 0; i < 60; i++) sketch.Increment(1);
        for (int i = 0; i < 39; i++) sketch.Increment(2);
        Assert.Equal(60, sketch.Estimate(1));
        sketch.Increment(2); // the 100th read halves every counter
        Assert.Equal(30, sketch.Estimate(1));
        Assert.Equal(20, sketch.Estimate(2));
    }

    [Fact]
    public void A_count_stops_at_255()
    {
        var sketch = new AccessSketch(64, 1_000_000);
        for (int i = 0; i < 300; i++) sketch.Increment(42);
        Assert.Equal(255, sketch.Estimate(42));
    }

    [Fact]
    public void The_oldest_value_still_above_the_head_is_the_victim()
    {
        var residents = new RamResidents();
        Assert.False(residents.TryGetVictim(0, out _));
        residents.Appended(11, endAddress: 100, headAddress: 0);
        residents.Appended(22, endAddress: 200, headAddress: 0);
        residents.Appended(33, endAddress: 300, headAddress: 0);
        Assert.True(residents.TryGetVictim(50, out ulong victim));
        Assert.Equal(11UL, victim);
        // Value 11 ended at 100: with the head there it has left RAM entirely.
        Assert.True(residents.TryGetVictim(100, out victim));
        Assert.Equal(22UL, victim);
        Assert.Equal(2, residents.Count);
        residents.Appended(44, endAddress: 400, headAddress: 350);
        Assert.True(residents.TryGetVictim(350, out victim));
        Assert.Equal(44UL, victim);
        Assert.Equal(1, residents.Count);
    }
}
