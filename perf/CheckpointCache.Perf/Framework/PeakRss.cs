namespace CheckpointCache.Perf.Framework;

/// <summary>Peak resident memory of this process, from the kernel's high-water mark (VmHWM).</summary>
public static class PeakRss
{
    /// <summary>Peak RSS in bytes since start or the last successful <see cref="TryReset"/>; 0 if unknown.</summary>
    public static long Read() => ReadStatusKiB("VmHWM:") * 1024;

    /// <summary>Current RSS in bytes.</summary>
    public static long Current() => ReadStatusKiB("VmRSS:") * 1024;

    /// <summary>
    /// Runs a full compacting GC, then restarts the high-water mark at the current RSS (writing 5 to
    /// /proc/self/clear_refs), so each phase reports its own peak. False where the kernel refuses; the peak then covers the whole run.
    /// </summary>
    public static bool TryReset()
    {
        // Give back what an earlier phase freed first, or its leftovers count towards this phase's peak.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static long ReadStatusKiB(string field)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (!line.StartsWith(field, StringComparison.Ordinal)) continue;
                var digits = line[field.Length..].Trim().Split(' ')[0];
                return long.TryParse(digits, out var kib) ? kib : 0;
            }
        }
        catch (IOException)
        {
        }
        return 0;
    }
}
