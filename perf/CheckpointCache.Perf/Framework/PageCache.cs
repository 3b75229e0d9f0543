using CheckpointCache.Engine.Devices;

namespace CheckpointCache.Perf.Framework;

/// <summary>Empties the kernel page cache so a read phase measures the disk, not memory.</summary>
public static class PageCache
{
    /// <summary>sync, then echo 3 &gt; /proc/sys/vm/drop_caches. Returns false (and warns) when not permitted.</summary>
    public static bool Drop(Action<string> warn)
    {
        Libc.Sync();
        try
        {
            File.WriteAllText("/proc/sys/vm/drop_caches", "3");
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            warn($"page cache NOT dropped ({ex.Message}); run as root for cold-read figures");
            return false;
        }
    }
}
