using System.Diagnostics;

namespace CheckpointCache.Perf.Framework;

/// <summary>
/// CPU time this process used over a phase, as cores busy on average: on a small machine the
/// first question about any throughput figure is whether it was simply CPU-bound.
/// </summary>
public readonly struct CpuMeter
{
    private readonly TimeSpan _cpu;
    private readonly long _start;

    private CpuMeter(TimeSpan cpu, long start)
    {
        _cpu = cpu;
        _start = start;
    }

    public static CpuMeter Start() => new(Process.GetCurrentProcess().TotalProcessorTime, Stopwatch.GetTimestamp());

    /// <summary>Average number of cores busy since <see cref="Start"/>.</summary>
    public double CoresUsed()
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - _cpu;
        var wall = Stopwatch.GetElapsedTime(_start);
        return wall > TimeSpan.Zero ? cpu / wall : 0;
    }
}
