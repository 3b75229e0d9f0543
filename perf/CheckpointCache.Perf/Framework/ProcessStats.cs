namespace CheckpointCache.Perf.Framework;

/// <summary>CPU time and memory of another process (a server under test), from /proc/PID.</summary>
public static class ProcessStats
{
    private const double TicksPerSecond = 100; // USER_HZ on Linux

    /// <summary>User plus system CPU time of <paramref name="pid"/> so far, in seconds; NaN if it is gone.</summary>
    public static double CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // pid (comm) state ppid ...: comm may contain spaces, so count from the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11]) + long.Parse(fields[12])) / TicksPerSecond; // utime, stime (fields 14, 15)
        }
        catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException)
        {
            return double.NaN;
        }
    }

    /// <summary>Peak resident set (VmHWM) of <paramref name="pid"/> in bytes; 0 if unknown.</summary>
    public static long PeakRssBytes(int pid) => StatusKiB(pid, "VmHWM:") * 1024;

    /// <summary>Current resident set (VmRSS) in bytes; 0 if unknown.</summary>
    public static long RssBytes(int pid) => StatusKiB(pid, "VmRSS:") * 1024;

    private static long StatusKiB(int pid, string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (!line.StartsWith(field, StringComparison.Ordinal)) continue;
                return long.TryParse(line[field.Length..].Trim().Split(' ')[0], out var kib) ? kib : 0;
            }
        }
        catch (IOException)
        {
        }
        return 0;
    }
}
