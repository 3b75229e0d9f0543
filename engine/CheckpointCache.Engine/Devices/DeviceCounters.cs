using System.Diagnostics;

namespace CheckpointCache.Engine.Devices;

/// <summary>
/// What a <see cref="DirectFileDevice"/> has done since it was opened: lets benchmarks compute read
/// amplification (device bytes per value byte) and lets tests check FASTER's alignment contract.
/// </summary>
public sealed class DeviceCounters
{
    internal long reads, readBytes, writes, writeBytes, syncs, failures, misaligned;
    internal long readTicks, writeTicks, syncTicks, busyTicks;
    private readonly object _busyGate = new();
    private int _executing;
    private long _busySince;

    public long Reads => Volatile.Read(ref reads);
    public long ReadBytes => Volatile.Read(ref readBytes);
    public long Writes => Volatile.Read(ref writes);
    public long WriteBytes => Volatile.Read(ref writeBytes);
    /// <summary>fdatasync calls made by the group commit.</summary>
    public long Syncs => Volatile.Read(ref syncs);
    /// <summary>I/Os completed with a non-zero error code.</summary>
    public long Failures => Volatile.Read(ref failures);
    /// <summary>Requests refused because the buffer, offset or length was not sector-aligned.</summary>
    public long Misaligned => Volatile.Read(ref misaligned);

    /// <summary>Time spent in pread calls, summed over threads (divide by <see cref="Reads"/> for the mean service time).</summary>
    public TimeSpan ReadTime => Stopwatch.GetElapsedTime(0, Volatile.Read(ref readTicks));
    /// <summary>Time spent in pwrite calls, summed over threads.</summary>
    public TimeSpan WriteTime => Stopwatch.GetElapsedTime(0, Volatile.Read(ref writeTicks));
    /// <summary>Time spent in fdatasync.</summary>
    public TimeSpan SyncTime => Stopwatch.GetElapsedTime(0, Volatile.Read(ref syncTicks));
    /// <summary>
    /// Wall time during which at least one read or write was on the disk: against elapsed time, says
    /// whether the disk or whoever feeds the device is the bottleneck.
    /// </summary>
    public TimeSpan BusyTime
    {
        get
        {
            lock (_busyGate)
            {
                long busy = busyTicks + (_executing > 0 ? Stopwatch.GetTimestamp() - _busySince : 0);
                return Stopwatch.GetElapsedTime(0, busy);
            }
        }
    }

    internal long BeginIo()
    {
        long now = Stopwatch.GetTimestamp();
        lock (_busyGate)
        {
            if (_executing++ == 0) _busySince = now;
        }
        return now;
    }

    internal void EndIo(long started, bool write)
    {
        long now = Stopwatch.GetTimestamp();
        Interlocked.Add(ref write ? ref writeTicks : ref readTicks, now - started);
        lock (_busyGate)
        {
            if (--_executing == 0) busyTicks += now - _busySince;
        }
    }

    public override string ToString()
        => $"reads={Reads} readBytes={ReadBytes} writes={Writes} writeBytes={WriteBytes} syncs={Syncs} failures={Failures} misaligned={Misaligned} " +
           $"busy={BusyTime.TotalSeconds:F2}s read={ReadTime.TotalSeconds:F2}s write={WriteTime.TotalSeconds:F2}s sync={SyncTime.TotalSeconds:F2}s";
}
