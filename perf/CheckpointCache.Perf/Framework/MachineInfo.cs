using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace CheckpointCache.Perf.Framework;

/// <summary>
/// The machine a figure was measured on, and the disk under the data folder: a number without
/// these is not comparable with anything.
/// </summary>
public sealed partial record MachineInfo
{
    public required string CpuModel { get; init; }
    public required int LogicalCores { get; init; }
    public required long RamBytes { get; init; }
    public required string Kernel { get; init; }
    public required string Os { get; init; }
    public required string Runtime { get; init; }
    public required string DataDirectory { get; init; }
    public required string Filesystem { get; init; }
    public required string MountPoint { get; init; }
    public required string MountSource { get; init; }
    /// <summary>Kernel name of the block device the data folder's filesystem sits on (a partition or a whole disk), or "".</summary>
    public required string BlockDevice { get; init; }
    /// <summary>The whole disk behind <see cref="BlockDevice"/>.</summary>
    public required string Disk { get; init; }
    public required string DiskModel { get; init; }
    public required long DiskBytes { get; init; }
    /// <summary>The kernel's rotational flag ("0" or "1"); virtual disks often say 1 whatever backs them.</summary>
    public required string DiskRotational { get; init; }
    public required string DiskWriteCache { get; init; }
    public required string DiskScheduler { get; init; }
    /// <summary>1, 5 and 15 minute load averages when the run started: other work on the machine skews every figure.</summary>
    public required string LoadAverage { get; init; }

    /// <summary>The 1, 5 and 15 minute load averages now.</summary>
    public static string CurrentLoadAverage() => string.Join(' ', ReadFirstLine("/proc/loadavg").Split(' ').Take(3));

    public static MachineInfo Describe(string dataDirectory)
    {
        var full = Path.GetFullPath(dataDirectory);
        var mount = FindMount(full);
        var (blockDevice, disk) = ResolveBlockDevice(mount.MajorMinor);
        string Sys(string relative) => disk.Length == 0 ? "" : ReadFirstLine($"/sys/block/{disk}/{relative}");
        long.TryParse(Sys("size"), out var sectors);
        return new MachineInfo
        {
            CpuModel = CpuModelName(),
            LogicalCores = Environment.ProcessorCount,
            RamBytes = MemTotalBytes(),
            Kernel = ReadFirstLine("/proc/sys/kernel/osrelease"),
            Os = RuntimeInformation.OSDescription,
            Runtime = $"{RuntimeInformation.FrameworkDescription} ({RuntimeInformation.ProcessArchitecture})",
            DataDirectory = RepoPaths.Display(full),
            Filesystem = mount.FsType,
            MountPoint = mount.MountPoint,
            MountSource = mount.Source,
            BlockDevice = blockDevice,
            Disk = disk,
            DiskModel = Sys("device/model"),
            DiskBytes = sectors * 512,
            DiskRotational = Sys("queue/rotational"),
            DiskWriteCache = Sys("queue/write_cache"),
            DiskScheduler = Sys("queue/scheduler"),
            LoadAverage = CurrentLoadAverage(),
        };
    }

    /// <summary>Lines for the console report.</summary>
    public IEnumerable<string> Lines()
    {
        yield return $"cpu:     {CpuModel}, {LogicalCores} logical cores";
        yield return $"memory:  {RamBytes / (1024.0 * 1024 * 1024):F1} GiB";
        yield return $"os:      {Os}, kernel {Kernel}";
        yield return $".net:    {Runtime}";
        yield return $"load:    {LoadAverage} (1/5/15 min) on {LogicalCores} cores at start";
        yield return $"data:    {DataDirectory} on {Filesystem} ({MountSource} mounted at {MountPoint})";
        if (Disk.Length > 0)
        {
            var model = DiskModel.Length > 0 ? DiskModel : "model unknown";
            yield return $"disk:    /dev/{Disk} ({model}, {DiskBytes / 1e9:F0} GB, rotational flag {DiskRotational}, write cache {DiskWriteCache}, scheduler {DiskScheduler})";
        }
    }

    private sealed record Mount(string MountPoint, string FsType, string Source, string MajorMinor);

    private static Mount FindMount(string path)
    {
        Mount best = new("/", "unknown", "unknown", "");
        try
        {
            foreach (var line in File.ReadLines("/proc/self/mountinfo"))
            {
                // id parent major:minor root mountpoint options... - fstype source superoptions
                var halves = line.Split(" - ", 2);
                if (halves.Length != 2) continue;
                var left = halves[0].Split(' ');
                var right = halves[1].Split(' ');
                if (left.Length < 5 || right.Length < 2) continue;
                var mountPoint = Unescape(left[4]);
                bool contains = mountPoint == "/" || path == mountPoint || path.StartsWith(mountPoint + "/", StringComparison.Ordinal);
                if (contains && mountPoint.Length >= best.MountPoint.Length) best = new Mount(mountPoint, right[0], right[1], left[2]);
            }
        }
        catch (IOException)
        {
        }
        return best;
    }

    private static (string BlockDevice, string Disk) ResolveBlockDevice(string majorMinor)
    {
        if (majorMinor.Length == 0 || majorMinor.StartsWith("0:", StringComparison.Ordinal)) return ("", ""); // overlay, tmpfs...
        try
        {
            var target = new DirectoryInfo($"/sys/dev/block/{majorMinor}").ResolveLinkTarget(returnFinalTarget: true)?.FullName;
            if (target is null) return ("", "");
            var name = Path.GetFileName(target);
            var disk = File.Exists(Path.Combine(target, "partition")) ? Path.GetFileName(Path.GetDirectoryName(target)!) : name;
            return (name, disk);
        }
        catch (IOException)
        {
            return ("", "");
        }
    }

    private static string Unescape(string mountInfoField)
        => OctalEscape().Replace(mountInfoField, m => ((char)Convert.ToInt32(m.Groups[1].Value, 8)).ToString());

    [GeneratedRegex(@"\\([0-7]{3})")]
    private static partial Regex OctalEscape();

    private static string CpuModelName()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                if (line.StartsWith("model name", StringComparison.Ordinal)) return line[(line.IndexOf(':') + 1)..].Trim();
            }
        }
        catch (IOException)
        {
        }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }

    private static long MemTotalBytes()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            if (line is not null && long.TryParse(line["MemTotal:".Length..].Trim().Split(' ')[0], out var kib)) return kib * 1024;
        }
        catch (IOException)
        {
        }
        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }

    private static string ReadFirstLine(string path)
    {
        try
        {
            return File.Exists(path) ? (File.ReadLines(path).FirstOrDefault() ?? "").Trim() : "";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }
}
