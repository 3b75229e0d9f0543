using System.Diagnostics;
using CheckpointCache.Engine;
using CheckpointCache.Engine.Options;
using CheckpointCache.Perf.Framework;

namespace CheckpointCache.Perf.Scenarios;

/// <summary>
/// The engine's SSD tier against the raw disk under it. For each value size: fill a working set of
/// 3x the RAM budget (durable: the time includes the final commit), drop the page cache, read
/// uniformly random keys and check every value, then only keys old enough to be on SSD alone;
/// then the same pattern on the raw disk in the same
/// folder (sequential O_DIRECT writes, random O_DIRECT reads).
/// </summary>
public sealed class EngineScenario : IScenario
{
    private ByteSize _ram;
    private IReadOnlyList<ByteSize> _sizes = [];
    private int _concurrency;
    private TimeSpan _readDuration;
    private int _ioThreads;
    private double _workingSetFactor;
    private bool _promote, _buffered, _keep, _skipRaw;
    private ByteSize _pageBytes, _segmentBytes;

    public string Name => "engine";

    public string Summary => "engine PutAsync/GetAsync (SSD tier) against raw O_DIRECT disk I/O of the same pattern";

    public string Options => """
        --ram SIZE            RAM budget of the kv namespace (default 1GiB); working set = 3 x this
        --sizes LIST          value sizes (default 256k,1m,4m)
        --concurrency N       outstanding requests, and raw-disk queue depth (default 4)
        --seconds S           duration of each random-read phase (default 20)
        --io-threads N        engine I/O threads per namespace device (default 16)
        --working-set X       working set as a multiple of --ram (default 3)
        --page SIZE           engine page size (default 32MiB); --segment SIZE segment size (default 256MiB)
        --promote             copy SSD hits back to RAM (off: reads measure the SSD path alone)
        --buffered            engine uses FASTER's managed device instead of O_DIRECT
        --keep                keep the data folders; --skip-raw skips the raw-disk half
        """;

    public void Configure(ScenarioArgs args)
    {
        _ram = args.Size("ram", ByteSize.FromGiB(1));
        _sizes = args.Sizes("sizes", "256k,1m,4m");
        _concurrency = args.Int("concurrency", 4);
        _readDuration = TimeSpan.FromSeconds(args.Double("seconds", 20));
        _ioThreads = args.Int("io-threads", 16);
        _workingSetFactor = args.Double("working-set", 3);
        _pageBytes = args.Size("page", ByteSize.FromMiB(32));
        _segmentBytes = args.Size("segment", ByteSize.FromMiB(256));
        _promote = args.Flag("promote");
        _buffered = args.Flag("buffered");
        _keep = args.Flag("keep");
        _skipRaw = args.Flag("skip-raw");
        if (_concurrency < 1) throw new ArgumentException("--concurrency must be at least 1");
        if (_sizes.Any(s => s.Bytes < 4096 || s.Bytes > int.MaxValue / 2)) throw new ArgumentException("--sizes must be between 4KiB and 1GiB");
    }

    public async Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        var result = new ScenarioResult()
            .Column("value", "value")
            .Column("phase", "phase")
            .Column("engine_mbps", "engine MB/s")
            .Column("raw_mbps", "raw disk MB/s")
            .Column("ratio", "engine / raw")
            .Column("engine_p50_ms", "engine p50 ms")
            .Column("engine_p99_ms", "engine p99 ms")
            .Column("ssd_hit_p50_ms", "SSD-hit p50 ms")
            .Column("ssd_hit_p99_ms", "SSD-hit p99 ms")
            .Column("raw_p50_ms", "raw p50 ms")
            .Column("raw_p99_ms", "raw p99 ms")
            .Column("ops", "ops")
            .Column("engine_cpu_cores", "engine CPU cores")
            .Column("raw_cpu_cores", "raw CPU cores")
            .Column("ram_hit_pct", "RAM hits %")
            .Column("ssd_hit_pct", "SSD hits %")
            .Column("misses", "misses")
            .Column("mismatches", "mismatches")
            .Column("disk_amp", "disk bytes / value bytes")
            .Column("peak_rss_mib", "peak RSS MiB")
            .Column("rss_vs_ram", "peak RSS / RAM budget");
        void Warn(string message)
        {
            context.Progress("WARNING: " + message);
            if (!result.Notes.Contains(message)) result.Notes.Add(message);
        }

        result.Notes.Add($"RAM budget {_ram}, working set {_workingSetFactor} x RAM, concurrency {_concurrency}, {_readDuration.TotalSeconds:F0} s per read phase, " +
                         $"engine {(_buffered ? "FASTER managed device" : "O_DIRECT device")} with {_ioThreads} I/O threads, page {_pageBytes}, promote on hit {_promote}");
        if (!PeakRss.TryReset()) result.Notes.Add("peak RSS could not be reset per value size; it covers the whole run");
        if (context.Machine.BlockDevice.Length == 0) result.Notes.Add("no block device found under the data folder; disk byte counts are unavailable");

        foreach (var size in _sizes)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int valueBytes = (int)size.Bytes;
            long count = Math.Max(_concurrency, (long)(_ram.Bytes * _workingSetFactor / valueBytes));
            string suffix = Suffix(size);
            context.Progress($"{size}: engine, {count} values ({count * valueBytes / 1e9:F2} GB)");
            var engine = await RunEngineAsync(context, valueBytes, count, suffix, Warn, cancellationToken);

            RawDiskResult? rawWrite = null, rawRead = null;
            if (!_skipRaw)
            {
                string rawPath = Path.Combine(context.DataDirectory, $"raw-{suffix}.dat");
                try
                {
                    context.Progress($"{size}: raw disk, sequential write of {count * valueBytes / 1e9:F2} GB");
                    rawWrite = RawDisk.SequentialWrite(rawPath, count * valueBytes, valueBytes, _concurrency, Warn);
                    PageCache.Drop(Warn);
                    context.Progress($"{size}: raw disk, random reads for {_readDuration.TotalSeconds:F0} s");
                    rawRead = RawDisk.RandomRead(rawPath, valueBytes, _concurrency, _readDuration, Warn);
                }
                finally
                {
                    File.Delete(rawPath);
                }
            }

            AddRows(result, size, suffix, engine, rawWrite, rawRead);
            foreach (var read in new[] { engine.WorkingSet, engine.SsdResident })
            {
                if (read is null) continue;
                if (read.Mismatches > 0) result.Failures.Add($"{size}: {read.Mismatches} values read back with wrong bytes");
                if (read.Misses > 0) result.Failures.Add($"{size}: {read.Misses} reads of the working set found nothing");
            }
        }
        return result;
    }

    private sealed record WriteRun(long ValueBytes, TimeSpan Elapsed, LatencySummary Latency, DiskStats Disk, double Cores);

    private sealed record ReadRun(
        LoadResult Load, long Bytes, long SsdBytes, long RamHits, long SsdHits, long Misses, long Mismatches,
        LatencySummary SsdHitLatency, DiskStats Disk, double Cores);

    private sealed record EngineRun(WriteRun Write, ReadRun WorkingSet, ReadRun? SsdResident, long PeakRss);

    private async Task<EngineRun> RunEngineAsync(ScenarioContext context, int valueBytes, long count, string suffix, Action<string> warn, CancellationToken ct)
    {
        string directory = Path.Combine(context.DataDirectory, $"engine-{suffix}");
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        long workingSet = count * valueBytes;
        var options = new EngineOptions
        {
            DataDirectory = directory,
            DirectIo = !_buffered,
            IoThreads = _ioThreads,
            MaxValueBytes = new ByteSize(Math.Max(valueBytes, ByteSize.FromMiB(64).Bytes)),
            Namespaces =
            {
                ["kv"] = new NamespaceOptions
                {
                    Kind = NamespaceKind.Kv,
                    RamBytes = _ram,
                    // Room for the whole working set twice over: the benchmark measures reads, not eviction.
                    SsdBytes = new ByteSize(_ram.Bytes + 2 * workingSet + 4 * _segmentBytes.Bytes + ByteSize.FromMiB(256).Bytes),
                    PageBytes = _pageBytes,
                    SegmentBytes = _segmentBytes,
                    ReadHintBytes = new ByteSize(valueBytes),
                    PromoteOnHit = _promote,
                },
            },
        };

        PageCache.Drop(warn);
        PeakRss.TryReset();
        string blockDevice = context.Machine.BlockDevice;
        try
        {
            await using var engine = await CacheEngine.OpenAsync(options, context.LoggerFactory, ct);
            var ns = engine.GetNamespace("kv");

            var write = await WriteAsync(ns, valueBytes, count, blockDevice, ct);
            context.Progress($"  wrote {count} values in {write.Elapsed.TotalSeconds:F1} s ({write.ValueBytes / 1e6 / write.Elapsed.TotalSeconds:F0} MB/s)");

            PageCache.Drop(warn);
            context.Progress($"  random reads over the working set for {_readDuration.TotalSeconds:F0} s");
            var workingSetRead = await ReadAsync(ns, valueBytes, 0, count, blockDevice, ct);
            context.Progress($"  read {workingSetRead.Load.Operations} values ({workingSetRead.Bytes / 1e6 / workingSetRead.Load.Elapsed.TotalSeconds:F0} MB/s), " +
                             $"{workingSetRead.SsdHits} from SSD, {workingSetRead.Misses} misses, {workingSetRead.Mismatches} mismatches");

            // The log is FIFO: the oldest ids are certainly out of the RAM tier (25% margin for page slack),
            // so this phase compares the SSD path alone with the disk.
            long ssdOnly = count - (long)(_ram.Bytes * 1.25 / valueBytes) - _concurrency;
            ReadRun? ssdRead = null;
            if (ssdOnly >= _concurrency && !_promote)
            {
                PageCache.Drop(warn);
                context.Progress($"  random reads over the {ssdOnly} oldest (SSD-resident) values for {_readDuration.TotalSeconds:F0} s");
                ssdRead = await ReadAsync(ns, valueBytes, 0, ssdOnly, blockDevice, ct);
                context.Progress($"  read {ssdRead.Load.Operations} values ({ssdRead.Bytes / 1e6 / ssdRead.Load.Elapsed.TotalSeconds:F0} MB/s), " +
                                 $"{ssdRead.RamHits} from RAM, {ssdRead.Misses} misses, {ssdRead.Mismatches} mismatches");
            }
            return new EngineRun(write, workingSetRead, ssdRead, PeakRss.Read());
        }
        finally
        {
            if (!_keep && Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Distinct keys from concurrent writers, then a commit: the figure is durable ingest.</summary>
    private async Task<WriteRun> WriteAsync(ICacheNamespace ns, int valueBytes, long count, string blockDevice, CancellationToken ct)
    {
        var buffers = Enumerable.Range(0, _concurrency).Select(_ => ValuePattern.NewBuffer(valueBytes)).ToArray();
        long nextId = -1;
        var disk = DiskStats.Read(blockDevice);
        var cpu = CpuMeter.Start();
        var stopwatch = Stopwatch.StartNew();
        var load = await Load.RunAsync(_concurrency, null, async worker =>
        {
            long id = Interlocked.Increment(ref nextId);
            if (id >= count) return false;
            ValuePattern.Stamp(buffers[worker], id);
            await ns.PutAsync(ValuePattern.Key(id), buffers[worker], ct);
            return true;
        }, ct);
        await ns.CommitAsync(ct);
        stopwatch.Stop();
        return new WriteRun(count * valueBytes, stopwatch.Elapsed, load.Latency, DiskStats.Read(blockDevice) - disk, cpu.CoresUsed());
    }

    /// <summary>Uniformly random ids in [from, to) for the read duration; every value is checked.</summary>
    private async Task<ReadRun> ReadAsync(ICacheNamespace ns, int valueBytes, long from, long to, string blockDevice, CancellationToken ct)
    {
        long bytes = 0, ssdBytes = 0, ramHits = 0, ssdHits = 0, misses = 0, mismatches = 0;
        var ssdLatency = new LatencyRecorder(_concurrency);
        var randoms = Enumerable.Range(0, _concurrency).Select(w => new Random(w * 7919 + (int)to)).ToArray();
        var disk = DiskStats.Read(blockDevice);
        var cpu = CpuMeter.Start();
        var load = await Load.RunAsync(_concurrency, _readDuration, async worker =>
        {
            long id = from + randoms[worker].NextInt64(to - from);
            long start = Stopwatch.GetTimestamp();
            using var value = await ns.GetAsync(ValuePattern.Key(id), ct);
            if (value is null)
            {
                Interlocked.Increment(ref misses);
                return true;
            }
            if (!ValuePattern.Verify(value.Span, id, valueBytes)) Interlocked.Increment(ref mismatches);
            Interlocked.Add(ref bytes, value.Length);
            if (value.Tier == Tier.Ssd)
            {
                ssdLatency.Record(worker, start);
                Interlocked.Increment(ref ssdHits);
                Interlocked.Add(ref ssdBytes, value.Length);
            }
            else
            {
                Interlocked.Increment(ref ramHits);
            }
            return true;
        }, ct);
        double cores = cpu.CoresUsed();
        return new ReadRun(load, bytes, ssdBytes, ramHits, ssdHits, misses, mismatches, ssdLatency.Summarize(), DiskStats.Read(blockDevice) - disk, cores);
    }

    private void AddRows(ScenarioResult result, ByteSize size, string suffix, EngineRun e, RawDiskResult? rawWrite, RawDiskResult? rawRead)
    {
        double peakMiB = e.PeakRss / (1024.0 * 1024);
        double rssVsRam = (double)e.PeakRss / _ram.Bytes;

        var w = e.Write;
        double writeMBps = w.ValueBytes / 1e6 / w.Elapsed.TotalSeconds;
        var write = result.AddRow();
        write["value"] = size.ToString();
        write["phase"] = "write + commit";
        write["engine_mbps"] = writeMBps;
        write["engine_p50_ms"] = w.Latency.P50Ms;
        write["engine_p99_ms"] = w.Latency.P99Ms;
        write["ops"] = w.Latency.Count;
        write["engine_cpu_cores"] = w.Cores;
        write["disk_amp"] = w.Disk.WriteBytes > 0 ? (double)w.Disk.WriteBytes / w.ValueBytes : double.NaN;
        write["peak_rss_mib"] = peakMiB;
        write["rss_vs_ram"] = rssVsRam;
        if (rawWrite is not null)
        {
            write["raw_mbps"] = rawWrite.MBps;
            write["raw_p50_ms"] = rawWrite.Latency.P50Ms;
            write["raw_p99_ms"] = rawWrite.Latency.P99Ms;
            write["raw_cpu_cores"] = rawWrite.CpuCores;
            write["raw_direct_io"] = rawWrite.DirectIo;
            write["ratio"] = writeMBps / rawWrite.MBps;
            AddRatio(result, "ssd_write_vs_disk", suffix, writeMBps / rawWrite.MBps);
        }

        AddReadRow(result, size, suffix, "random read, working set", "ssd_randread_vs_disk", e.WorkingSet, rawRead, peakMiB, rssVsRam);
        if (e.SsdResident is not null)
            AddReadRow(result, size, suffix, "random read, SSD-resident keys", "ssd_only_randread_vs_disk", e.SsdResident, rawRead, peakMiB, rssVsRam);
    }

    private static void AddReadRow(ScenarioResult result, ByteSize size, string suffix, string phase, string ratioName, ReadRun r, RawDiskResult? raw,
        double peakMiB, double rssVsRam)
    {
        double mbps = r.Bytes / 1e6 / r.Load.Elapsed.TotalSeconds;
        long hits = r.RamHits + r.SsdHits;
        var row = result.AddRow();
        row["value"] = size.ToString();
        row["phase"] = phase;
        row["engine_mbps"] = mbps;
        row["engine_p50_ms"] = r.Load.Latency.P50Ms;
        row["engine_p99_ms"] = r.Load.Latency.P99Ms;
        row["ssd_hit_p50_ms"] = r.SsdHitLatency.P50Ms;
        row["ssd_hit_p99_ms"] = r.SsdHitLatency.P99Ms;
        row["ops"] = r.Load.Operations;
        row["engine_cpu_cores"] = r.Cores;
        row["ram_hit_pct"] = hits > 0 ? 100.0 * r.RamHits / hits : 0;
        row["ssd_hit_pct"] = hits > 0 ? 100.0 * r.SsdHits / hits : 0;
        row["misses"] = r.Misses;
        row["mismatches"] = r.Mismatches;
        row["disk_amp"] = r.SsdBytes > 0 && r.Disk.ReadBytes > 0 ? (double)r.Disk.ReadBytes / r.SsdBytes : double.NaN;
        row["disk_write_mb_during_reads"] = r.Disk.WriteBytes / 1e6;
        row["peak_rss_mib"] = peakMiB;
        row["rss_vs_ram"] = rssVsRam;
        if (raw is null) return;
        row["raw_mbps"] = raw.MBps;
        row["raw_p50_ms"] = raw.Latency.P50Ms;
        row["raw_p99_ms"] = raw.Latency.P99Ms;
        row["raw_cpu_cores"] = raw.CpuCores;
        row["raw_direct_io"] = raw.DirectIo;
        row["ratio"] = mbps / raw.MBps;
        AddRatio(result, ratioName, suffix, mbps / raw.MBps);
    }

    private static void AddRatio(ScenarioResult result, string name, string suffix, double value)
    {
        result.Ratios[$"{name}_{suffix}"] = value;
        if (suffix == "1m") result.Ratios[name] = value; // the headline figure is for 1 MiB values
    }

    private static string Suffix(ByteSize size)
    {
        if (size.Bytes % ByteSize.MiB == 0) return $"{size.Bytes / ByteSize.MiB}m";
        if (size.Bytes % ByteSize.KiB == 0) return $"{size.Bytes / ByteSize.KiB}k";
        return size.Bytes.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}
