using System.Diagnostics;
using CheckpointCache.Engine;
using CheckpointCache.Engine.Options;
using CheckpointCache.Perf.Framework;

namespace CheckpointCache.Perf.Scenarios;

/// <summary>
/// The engine's SSD tier against the raw disk under it. For each value size: fill a working set of
/// 3x the RAM budget (durable: the time includes the final commit), drop the page cache, read
/// uniformly random keys and check every value; then the same pattern on the raw disk in the same
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
            if (engine.Mismatches > 0) result.Failures.Add($"{size}: {engine.Mismatches} values read back with wrong bytes");
            if (engine.Misses > 0) result.Failures.Add($"{size}: {engine.Misses} values of the working set were not found");
        }
        return result;
    }

    private sealed record EngineRun(
        long ValueBytesWritten, TimeSpan WriteElapsed, LatencySummary PutLatency, DiskStats WriteDisk,
        LoadResult Read, long BytesRead, long SsdBytesRead, long RamHits, long SsdHits, long Misses, long Mismatches,
        LatencySummary SsdHitLatency, DiskStats ReadDisk, long PeakRss);

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

            // Write phase: distinct keys, then a commit, so the figure is durable ingest.
            var buffers = Enumerable.Range(0, _concurrency).Select(_ => ValuePattern.NewBuffer(valueBytes)).ToArray();
            long nextId = -1;
            var disk0 = DiskStats.Read(blockDevice);
            var stopwatch = Stopwatch.StartNew();
            var write = await Load.RunAsync(_concurrency, null, async worker =>
            {
                long id = Interlocked.Increment(ref nextId);
                if (id >= count) return false;
                ValuePattern.Stamp(buffers[worker], id);
                await ns.PutAsync(ValuePattern.Key(id), buffers[worker], ct);
                return true;
            }, ct);
            await ns.CommitAsync(ct);
            stopwatch.Stop();
            var writeDisk = DiskStats.Read(blockDevice) - disk0;
            context.Progress($"  wrote {count} values in {stopwatch.Elapsed.TotalSeconds:F1} s ({count * valueBytes / 1e6 / stopwatch.Elapsed.TotalSeconds:F0} MB/s)");

            // Read phase: uniform random keys over the whole working set, every value checked.
            PageCache.Drop(warn);
            long bytesRead = 0, ssdBytes = 0, ramHits = 0, ssdHits = 0, misses = 0, mismatches = 0;
            var ssdLatency = new LatencyRecorder(_concurrency);
            var randoms = Enumerable.Range(0, _concurrency).Select(w => new Random(w * 7919 + valueBytes)).ToArray();
            var disk1 = DiskStats.Read(blockDevice);
            context.Progress($"  random reads for {_readDuration.TotalSeconds:F0} s");
            var read = await Load.RunAsync(_concurrency, _readDuration, async worker =>
            {
                long id = randoms[worker].NextInt64(count);
                long start = Stopwatch.GetTimestamp();
                using var value = await ns.GetAsync(ValuePattern.Key(id), ct);
                if (value is null)
                {
                    Interlocked.Increment(ref misses);
                    return true;
                }
                if (!ValuePattern.Verify(value.Span, id, valueBytes)) Interlocked.Increment(ref mismatches);
                Interlocked.Add(ref bytesRead, value.Length);
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
            var readDisk = DiskStats.Read(blockDevice) - disk1;
            long peak = PeakRss.Read();
            context.Progress($"  read {read.Operations} values ({bytesRead / 1e6 / read.Elapsed.TotalSeconds:F0} MB/s), {ssdHits} from SSD, {misses} misses, {mismatches} mismatches");
            return new EngineRun(count * valueBytes, stopwatch.Elapsed, write.Latency, writeDisk, read, bytesRead, ssdBytes, ramHits, ssdHits,
                misses, mismatches, ssdLatency.Summarize(), readDisk, peak);
        }
        finally
        {
            if (!_keep && Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
    }

    private void AddRows(ScenarioResult result, ByteSize size, string suffix, EngineRun e, RawDiskResult? rawWrite, RawDiskResult? rawRead)
    {
        double writeMBps = e.ValueBytesWritten / 1e6 / e.WriteElapsed.TotalSeconds;
        double readMBps = e.BytesRead / 1e6 / e.Read.Elapsed.TotalSeconds;
        double peakMiB = e.PeakRss / (1024.0 * 1024);
        double rssVsRam = (double)e.PeakRss / _ram.Bytes;

        var write = result.AddRow();
        write["value"] = size.ToString();
        write["phase"] = "write + commit";
        write["engine_mbps"] = writeMBps;
        write["engine_p50_ms"] = e.PutLatency.P50Ms;
        write["engine_p99_ms"] = e.PutLatency.P99Ms;
        write["ops"] = e.PutLatency.Count;
        write["disk_amp"] = e.WriteDisk.WriteBytes > 0 ? (double)e.WriteDisk.WriteBytes / e.ValueBytesWritten : double.NaN;
        write["peak_rss_mib"] = peakMiB;
        write["rss_vs_ram"] = rssVsRam;

        var read = result.AddRow();
        long hits = e.RamHits + e.SsdHits;
        read["value"] = size.ToString();
        read["phase"] = "random read";
        read["engine_mbps"] = readMBps;
        read["engine_p50_ms"] = e.Read.Latency.P50Ms;
        read["engine_p99_ms"] = e.Read.Latency.P99Ms;
        read["ssd_hit_p50_ms"] = e.SsdHitLatency.P50Ms;
        read["ssd_hit_p99_ms"] = e.SsdHitLatency.P99Ms;
        read["ops"] = e.Read.Operations;
        read["ram_hit_pct"] = hits > 0 ? 100.0 * e.RamHits / hits : 0;
        read["ssd_hit_pct"] = hits > 0 ? 100.0 * e.SsdHits / hits : 0;
        read["misses"] = e.Misses;
        read["mismatches"] = e.Mismatches;
        read["disk_amp"] = e.SsdBytesRead > 0 && e.ReadDisk.ReadBytes > 0 ? (double)e.ReadDisk.ReadBytes / e.SsdBytesRead : double.NaN;
        read["disk_write_mb_during_reads"] = e.ReadDisk.WriteBytes / 1e6;
        read["peak_rss_mib"] = peakMiB;
        read["rss_vs_ram"] = rssVsRam;

        if (rawWrite is not null)
        {
            write["raw_mbps"] = rawWrite.MBps;
            write["raw_p50_ms"] = rawWrite.Latency.P50Ms;
            write["raw_p99_ms"] = rawWrite.Latency.P99Ms;
            write["ratio"] = writeMBps / rawWrite.MBps;
            write["raw_direct_io"] = rawWrite.DirectIo;
            AddRatio(result, "ssd_write_vs_disk", suffix, writeMBps / rawWrite.MBps);
        }
        if (rawRead is not null)
        {
            read["raw_mbps"] = rawRead.MBps;
            read["raw_p50_ms"] = rawRead.Latency.P50Ms;
            read["raw_p99_ms"] = rawRead.Latency.P99Ms;
            read["ratio"] = readMBps / rawRead.MBps;
            read["raw_direct_io"] = rawRead.DirectIo;
            AddRatio(result, "ssd_randread_vs_disk", suffix, readMBps / rawRead.MBps);
        }
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
