namespace CheckpointCache.Perf.Framework;

/// <summary>
/// Bytes the kernel read from and wrote to a block device (/proc/diskstats): what a phase really
/// cost the disk, e.g. read amplification or writes caused by reads. Counts every process.
/// </summary>
public readonly record struct DiskStats(long ReadBytes, long WriteBytes)
{
    public static DiskStats Read(string blockDevice)
    {
        if (blockDevice.Length == 0) return default;
        try
        {
            foreach (var line in File.ReadLines("/proc/diskstats"))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                // major minor name reads merged sectorsRead msRead writes merged sectorsWritten ...
                if (f.Length > 9 && f[2] == blockDevice && long.TryParse(f[5], out var read) && long.TryParse(f[9], out var written))
                    return new DiskStats(read * 512, written * 512);
            }
        }
        catch (IOException)
        {
        }
        return default;
    }

    public static DiskStats operator -(DiskStats a, DiskStats b) => new(a.ReadBytes - b.ReadBytes, a.WriteBytes - b.WriteBytes);

    public static DiskStats operator +(DiskStats a, DiskStats b) => new(a.ReadBytes + b.ReadBytes, a.WriteBytes + b.WriteBytes);
}
