using System.Diagnostics;
using System.Runtime.InteropServices;
using CheckpointCache.Engine.Devices;

namespace CheckpointCache.Perf.Framework;

/// <summary>What the disk itself does for an I/O pattern, measured with O_DIRECT on blocking threads.</summary>
public sealed record RawDiskResult(string Pattern, long Bytes, long Ops, TimeSpan Elapsed, LatencySummary Latency, bool DirectIo, double CpuCores)
{
    public double MBps => Elapsed > TimeSpan.Zero ? Bytes / 1e6 / Elapsed.TotalSeconds : 0;
}

/// <summary>
/// The disk's own speed for the pattern a scenario drives through the engine, so the engine's figure
/// can be given as a fraction of it. One thread per outstanding I/O: queue depth = thread count.
/// </summary>
public static class RawDisk
{
    private const int Alignment = 4096;

    /// <summary>
    /// Writes <paramref name="totalBytes"/> front to back in <paramref name="blockBytes"/> blocks with
    /// <paramref name="queueDepth"/> writes in flight, then fdatasyncs: durable bytes, as a checkpoint must be.
    /// </summary>
    public static unsafe RawDiskResult SequentialWrite(string path, long totalBytes, int blockBytes, int queueDepth, Action<string> warn)
    {
        blockBytes = AlignUp(blockBytes);
        long blocks = Math.Max(1, totalBytes / blockBytes);
        var (fd, direct) = OpenFile(path, Libc.O_WRONLY | Libc.O_CREAT, warn);
        long next = -1;
        var latency = new LatencyRecorder(queueDepth);
        var cpu = CpuMeter.Start();
        var stopwatch = Stopwatch.StartNew();
        try
        {
            RunThreads(queueDepth, blockBytes, (worker, address) =>
            {
                byte* buffer = (byte*)address;
                Random.Shared.NextBytes(new Span<byte>(buffer, blockBytes));
                for (long block; (block = Interlocked.Increment(ref next)) < blocks;)
                {
                    long start = Stopwatch.GetTimestamp();
                    Check(Libc.PWrite(fd, buffer, (nuint)blockBytes, block * blockBytes), blockBytes, "pwrite", path);
                    latency.Record(worker, start);
                }
            });
            if (Libc.FDataSync(fd) != 0) throw new IOException($"fdatasync {path}: {Libc.Describe(Libc.LastError)}");
            stopwatch.Stop();
        }
        finally
        {
            Libc.Close(fd);
        }
        return new RawDiskResult($"sequential write, {blockBytes / 1024} KiB blocks, QD {queueDepth}, fdatasync at end",
            blocks * blockBytes, blocks, stopwatch.Elapsed, latency.Summarize(), direct, cpu.CoresUsed());
    }

    /// <summary>
    /// Reads uniformly random <paramref name="blockBytes"/>-aligned blocks of the file (or of its first
    /// <paramref name="spanBlocks"/> blocks) for <paramref name="duration"/>.
    /// </summary>
    /// <param name="latency">Records into this recorder (to merge several slices of one phase); a new one when null.</param>
    public static unsafe RawDiskResult RandomRead(string path, int blockBytes, int concurrency, TimeSpan duration, Action<string> warn,
        LatencyRecorder? latency = null, long spanBlocks = long.MaxValue)
    {
        blockBytes = AlignUp(blockBytes);
        var (fd, direct) = OpenFile(path, Libc.O_RDONLY, warn);
        long ops = 0;
        latency ??= new LatencyRecorder(concurrency);
        var cpu = CpuMeter.Start();
        var stopwatch = Stopwatch.StartNew();
        try
        {
            long blocks = Math.Min(spanBlocks, Libc.LSeek(fd, 0, Libc.SEEK_END) / blockBytes);
            if (blocks <= 0) throw new IOException($"{path} is smaller than one {blockBytes}-byte block");
            long deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            RunThreads(concurrency, blockBytes, (worker, address) =>
            {
                byte* buffer = (byte*)address;
                var random = new Random();
                while (Stopwatch.GetTimestamp() < deadline)
                {
                    long start = Stopwatch.GetTimestamp();
                    Check(Libc.PRead(fd, buffer, (nuint)blockBytes, random.NextInt64(blocks) * blockBytes), blockBytes, "pread", path);
                    latency.Record(worker, start);
                    Interlocked.Increment(ref ops);
                }
            });
            stopwatch.Stop();
        }
        finally
        {
            Libc.Close(fd);
        }
        return new RawDiskResult($"random read, {blockBytes / 1024} KiB blocks, QD {concurrency}",
            ops * blockBytes, ops, stopwatch.Elapsed, latency.Summarize(), direct, cpu.CoresUsed());
    }

    private static int AlignUp(int bytes) => (bytes + Alignment - 1) / Alignment * Alignment;

    private static (int Fd, bool Direct) OpenFile(string path, int flags, Action<string> warn)
    {
        int fd = Libc.Open(path, flags | Libc.O_CLOEXEC | Libc.O_DIRECT, 0b110_100_100);
        if (fd >= 0) return (fd, true);
        int err = Libc.LastError;
        if (err != Libc.EINVAL) throw new IOException($"open {path}: {Libc.Describe(err)}");
        warn($"O_DIRECT refused on {path}; raw disk figures go through the page cache");
        fd = Libc.Open(path, flags | Libc.O_CLOEXEC, 0b110_100_100);
        if (fd < 0) throw new IOException($"open {path}: {Libc.Describe(Libc.LastError)}");
        return (fd, false);
    }

    private static void Check(nint result, int expected, string call, string path)
    {
        if (result == expected) return;
        throw new IOException(result < 0 ? $"{call} {path}: {Libc.Describe(Libc.LastError)}" : $"{call} {path}: {result} of {expected} bytes");
    }

    private static unsafe void RunThreads(int count, int bufferBytes, Action<int, nint> body)
    {
        Exception? failure = null;
        var threads = new Thread[count];
        for (int i = 0; i < count; i++)
        {
            int worker = i;
            threads[i] = new Thread(() =>
            {
                void* buffer = NativeMemory.AlignedAlloc((nuint)bufferBytes, Alignment);
                try
                {
                    body(worker, (nint)buffer);
                }
                catch (Exception ex)
                {
                    Interlocked.CompareExchange(ref failure, ex, null);
                }
                finally
                {
                    NativeMemory.AlignedFree(buffer);
                }
            }) { IsBackground = true, Name = $"rawdisk-{i}" };
            threads[i].Start();
        }
        foreach (var t in threads) t.Join();
        if (failure is not null) throw new IOException($"raw disk measurement failed: {failure.Message}", failure);
    }
}
