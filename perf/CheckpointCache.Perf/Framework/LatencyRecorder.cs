using System.Diagnostics;

namespace CheckpointCache.Perf.Framework;

/// <summary>
/// Per-operation latencies, one list per worker so recording takes no lock; summarised once at the end.
/// </summary>
public sealed class LatencyRecorder
{
    private readonly List<long>[] _ticks;

    public LatencyRecorder(int workers)
    {
        _ticks = new List<long>[workers];
        for (int i = 0; i < workers; i++) _ticks[i] = new List<long>(1024);
    }

    /// <summary>Records one operation of <paramref name="worker"/> that began at <paramref name="startTimestamp"/> (Stopwatch.GetTimestamp).</summary>
    public void Record(int worker, long startTimestamp) => _ticks[worker].Add(Stopwatch.GetTimestamp() - startTimestamp);

    public LatencySummary Summarize()
    {
        var all = _ticks.SelectMany(t => t).ToArray();
        Array.Sort(all);
        return LatencySummary.FromSortedTicks(all);
    }
}

/// <summary>Percentiles in milliseconds.</summary>
public sealed record LatencySummary(long Count, double MeanMs, double P50Ms, double P90Ms, double P99Ms, double MaxMs)
{
    public static LatencySummary FromSortedTicks(long[] sorted)
    {
        if (sorted.Length == 0) return new LatencySummary(0, 0, 0, 0, 0, 0);
        static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
        double Percentile(double p) => Ms(sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)]);
        return new LatencySummary(sorted.Length, Ms((long)sorted.Average()), Percentile(0.50), Percentile(0.90), Percentile(0.99), Ms(sorted[^1]));
    }
}
