using CheckpointCache.Client.SharedMemory;

namespace CheckpointCache.Perf.Framework;

/// <summary>
/// Makes sure the system's pool of huge pages (vm.nr_hugepages) has a number of them free for the run, as an operator
/// would reserve them for the mount's shared buffers (docs/operations.md), and puts the pool back on Dispose.
/// </summary>
public sealed class HugePageReservation : IDisposable
{
    private const string Knob = "/proc/sys/vm/nr_hugepages";
    private long _added;

    private HugePageReservation(long added, string description)
    {
        _added = added;
        Description = description;
    }

    /// <summary>What was done, for the run's notes.</summary>
    public string Description { get; }

    public static HugePageReservation Ensure(long pages)
    {
        var (total, free) = LinuxMemory.HugePagePool();
        if (free >= pages) return new(0, $"{free} huge pages were free (vm.nr_hugepages {total}); {pages} wanted, none added");
        try
        {
            long want = total + pages - free;
            File.WriteAllText(Knob, want.ToString());
            long now = long.Parse(File.ReadAllText(Knob).Trim());
            return new(now - total, $"vm.nr_hugepages raised from {total} to {now} for the run ({pages} huge pages wanted free), then put back");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new(0, $"vm.nr_hugepages could not be raised ({e.Message}); {free} huge pages free, {pages} wanted");
        }
    }

    public void Dispose()
    {
        if (_added <= 0) return;
        try
        {
            long now = long.Parse(File.ReadAllText(Knob).Trim());
            File.WriteAllText(Knob, Math.Max(0, now - _added).ToString());
        }
        catch (IOException) { }
        _added = 0;
    }
}
