namespace CheckpointCache.Tests.Shared;

/// <summary>
/// Adds huge pages to the system's pool (vm.nr_hugepages) for a test and takes them back on Dispose. Needs root, as
/// the test command runs. Test processes may run at once, so each read-modify-write of the pool size holds a lock
/// file; each test adds what it needs, so the pool holds the sum.
/// </summary>
public sealed class HugePagePool : IDisposable
{
    private const string Knob = "/proc/sys/vm/nr_hugepages";
    private static readonly string LockPath = Path.Combine(Path.GetTempPath(), "checkpointcache-tests-hugepages.lock");
    private long _added;

    private HugePagePool(long added) => _added = added;

    /// <summary>Adds <paramref name="pages"/> huge pages; throws when the kernel gives fewer (fragmented memory).</summary>
    public static HugePagePool Add(int pages)
    {
        using (Lock())
        {
            long before = long.Parse(File.ReadAllText(Knob).Trim());
            File.WriteAllText(Knob, (before + pages).ToString());
            long now = long.Parse(File.ReadAllText(Knob).Trim());
            if (now - before < pages)
            {
                // Free memory in pieces too small for a huge page: compact it and ask again.
                File.WriteAllText("/proc/sys/vm/compact_memory", "1");
                File.WriteAllText(Knob, (before + pages).ToString());
                now = long.Parse(File.ReadAllText(Knob).Trim());
            }
            var pool = new HugePagePool(now - before);
            if (now - before < pages)
            {
                pool.Dispose();
                throw new InvalidOperationException($"the kernel added {now - before} of {pages} huge pages");
            }
            return pool;
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/> while no test adds pages, so the pool's total (HugePages_Total, passed in) cannot
    /// grow meanwhile; pages other processes free never raise it.
    /// </summary>
    public static T WhileTotalHolds<T>(Func<long, T> body)
    {
        using (Lock())
        {
            long total = 0;
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("HugePages_Total:", StringComparison.Ordinal)) total = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
            return body(total);
        }
    }

    public void Dispose()
    {
        if (_added == 0) return;
        using (Lock())
        {
            long now = long.Parse(File.ReadAllText(Knob).Trim());
            // Pages still in use become surplus pages, freed when their last user lets go.
            File.WriteAllText(Knob, Math.Max(0, now - _added).ToString());
        }
        _added = 0;
    }

    private static FileStream Lock()
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return new FileStream(LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (attempt < 600)
            {
                Thread.Sleep(50);
            }
        }
    }
}
