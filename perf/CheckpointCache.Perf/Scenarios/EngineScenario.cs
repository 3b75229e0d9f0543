using System.Diagnostics;
using CheckpointCache.Engine;
using CheckpointCache.Engine.Options;
using CheckpointCache.Perf.Framework;

namespace CheckpointCache.Perf.Scenarios;

/// <summary>
/// The engine's SSD tier against the raw disk under it. For each value size: fill a working set of
/// 3x the RAM budget through the engine (durable: the time includes the final commit), then write
/// the same bytes to a raw file in the same folder (sequential O_DIRECT, fdatasync at the end).
/// Then reads, with the page cache dropped before each slice: uniformly random keys over the whole
/// working set (every value checked), random keys old enough to be on SSD only, and random
/// value-sized O_DIRECT reads of the raw file (over all of it, and over a span as large as the
/// SSD-resident keys). The read phases run in alternating slices so that a
/// disk whose speed drifts (shared machines, cloud disks) biases none of them.
/// </summary>
public sealed class EngineScenario : IScenario
{
    private ByteSize _ram;
    private IReadOnlyList<ByteSize> _sizes = [];
    private int _concurrency, _ioThreads, _rounds;
    private TimeSpan _readDuration;
    private double _workingSetFactor;
    private bool _promote, _buffered, _keep, _skipRaw, _noWarmup, _readInto;
    private ByteSize _readPiece;
    private ByteSize _pageBytes, _segmentBytes;

    public string Name => "engine";

    public string Summary => "engine PutAsync/GetAsync (SSD tier) against raw O_DIRECT disk I/O of the same pattern";

    public string Options => """
        --ram SIZE            RAM budget of the kv namespace (default 1GiB); working set = 3 x this
        --sizes LIST          value sizes (default 256k,1m,4m)
        --concurrency N       outstanding requests, and raw-disk queue depth (default 4)
        --seconds S           duration of each read phase (default 20)
        --rounds N            slices each read phase is cut into, alternating between phases (default 4)
        --io-threads N        engine I/O threads per namespace device (default 16)
        --read-piece SIZE     engine reads longer than this run as pieces of it at once (default 0: one pread each)
        --working-set X       working set as a multiple of --ram (default 3)
        --page SIZE           engine page size (default 32MiB); --segment SIZE segment size (default 256MiB)
        --promote             copy SSD hits back to RAM (off: reads measure the SSD path alone)
        --read-into           reads with ReadIntoAsync into a buffer per reader (the node's shared-buffer path), not GetAsync
        --buffered            engine uses FASTER's managed device instead of O_DIRECT
        --keep                keep the data folders; --skip-raw skips the raw-disk half
        --no-warmup           skip the unmeasured warm-up engine that compiles the write and read paths first
        """;

    public void Configure(ScenarioArgs args)
    {
        _ram = args.Size("ram", ByteSize.FromGiB(1));
        _sizes = args.Sizes("sizes", "256k,1m,4m");
        _concurrency = args.Int("concurrency", 4);
        _readDuration = TimeSpan.FromSeconds(args.Double("seconds", 20));
        _rounds = args.Int("rounds", 4);
        _ioThreads = args.Int("io-threads", 16);
        _readPiece = args.Size("read-piece", default);
        _workingSetFactor = args.Double("working-set", 3);
        _pageBytes = args.Size("page", ByteSize.FromMiB(32));
        _segmentBytes = args.Size("segment", ByteSize.FromMiB(256));
        _promote = args.Flag("promote");
        _readInto = args.Flag("read-into");
        _buffered = args.Flag("buffered");
        _keep = args.Flag("keep");
        _skipRaw = args.Flag("skip-raw");
        _noWarmup = args.Flag("no-warmup");
        if (_concurrency < 1) throw new ArgumentException("--concurrency must be at least 1");
        if (_rounds < 1) throw new ArgumentException("--rounds must be at least 1");
        if (_sizes.Any(s => s.Bytes < 4096 || s.Bytes > int.MaxValue / 2)) throw new ArgumentException("--sizes must be between 4KiB and 1GiB");
    }

    public async Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        var result = NewResult();
        void Warn(string message)
        {
            context.Progress("WARNING: " + message);
            if (!result.Notes.Contains(message)) result.Notes.Add(message);
        }

        result.Notes.Add($"RAM budget {_ram}, working set {_workingSetFactor} x RAM, concurrency {_concurrency}, {_readDuration.TotalSeconds:F0} s per read phase in {_rounds} slices, " +
                         $"engine {(_buffered ? "FASTER managed device" : "O_DIRECT device")} with {_ioThreads} I/O threads{(_readPiece.Bytes > 0 ? $" and reads cut in pieces of {_readPiece}" : "")}, page {_pageBytes}, promote on hit {_promote}");
        if (!PeakRss.TryReset()) result.Notes.Add("peak RSS could not be reset per value size; it covers the whole run");
        if (context.Machine.BlockDevice.Length == 0) result.Notes.Add("no block device found under the data folder; disk byte counts are unavailable");

        if (!_noWarmup)
        {
            await WarmUpAsync(context, cancellationToken);
            result.Notes.Add("an unmeasured warm-up engine wrote and read 192 MiB first, so that the first measured phase does not pay for compiling the engine's code (the raw disk has nothing to compile)");
        }

        foreach (var size in _sizes)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var run = await RunSizeAsync(context, size, Warn, cancellationToken);
            AddRows(result, size, run);
            foreach (var read in new[] { run.WorkingSet, run.SsdResident })
            {
                if (read is null) continue;
                if (read.Mismatches > 0) result.Failures.Add($"{size}: {read.Mismatches} values read back with wrong bytes");
                if (read.Misses > 0) result.Failures.Add($"{size}: {read.Misses} reads of the working set found nothing");
            }
        }
        return result;
    }

    /// <summary>
    /// Runs the write, commit, SSD-read and RAM-read paths once in a small throwaway engine. Tiered JIT
    /// otherwise compiles them during the first measured phase; a node pays that once per process, not per GB.
    /// </summary>
    private async Task WarmUpAsync(ScenarioContext context, CancellationToken ct)
    {
        string directory = Path.Combine(context.DataDirectory, "engine-warmup");
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        int valueBytes = (int)ByteSize.FromMiB(1).Bytes;
        long count = 192;
        context.Progress("warm-up: a throwaway engine writes and reads 192 MiB");
        try
        {
            var options = EngineOptionsFor(directory, valueBytes, count);
            options.Namespaces["kv"].RamBytes = ByteSize.FromMiB(64);
            options.Namespaces["kv"].PageBytes = ByteSize.FromMiB(16);
            options.Namespaces["kv"].ChunkBytes = ByteSize.FromMiB(4);
            await using var engine = await CacheEngine.OpenAsync(options, context.LoggerFactory, ct);
            var ns = engine.GetNamespace("kv");
            await WriteAsync(ns, valueBytes, count, "", ct);
            var reads = new ReadTotals(_concurrency, 0, count, "");
            await reads.RunAsync(ns, valueBytes, TimeSpan.FromSeconds(1), ct);
        }
        finally
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
    }

    private sealed record WriteRun(long ValueBytes, TimeSpan Elapsed, LatencySummary Latency, DiskStats Disk, double Cores);

    private sealed record SizeRun(WriteRun Write, RawDiskResult? RawWrite, ReadTotals WorkingSet, ReadTotals? SsdResident,
        RawTotals? RawRead, RawTotals? RawSsdSpan, long PeakRss, long BaselineRss);

    private async Task<SizeRun> RunSizeAsync(ScenarioContext context, ByteSize size, Action<string> warn, CancellationToken ct)
    {
        int valueBytes = (int)size.Bytes;
        long count = Math.Max(_concurrency, (long)(_ram.Bytes * _workingSetFactor / valueBytes));
        string suffix = Suffix(size);
        string directory = Path.Combine(context.DataDirectory, $"engine-{suffix}");
        string rawPath = Path.Combine(context.DataDirectory, $"raw-{suffix}.dat");
        string blockDevice = context.Machine.BlockDevice;
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);

        // The last read's continuation may still run on that engine's completion frames: unwind them so that they do
        // not keep the previous engine alive.
        await Task.Yield();
        PageCache.Drop(warn);
        // The previous size's engine (or the warm-up's) is garbage by now; give its RAM tier back to the OS so that
        // this size's peak RSS counts this engine, not the last one's pages the GC kept for reuse.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        PeakRss.TryReset();
        long baselineRss = PeakRss.Current();
        try
        {
            await using var engine = await CacheEngine.OpenAsync(EngineOptionsFor(directory, valueBytes, count), context.LoggerFactory, ct);
            var ns = engine.GetNamespace("kv");

            context.Progress($"{size}: engine writes {count} values ({count * valueBytes / 1e9:F2} GB)");
            var write = await WriteAsync(ns, valueBytes, count, blockDevice, ct);
            context.Progress($"  {write.ValueBytes / 1e6 / write.Elapsed.TotalSeconds:F0} MB/s");

            RawDiskResult? rawWrite = null;
            if (!_skipRaw)
            {
                context.Progress($"{size}: raw disk writes {count * valueBytes / 1e9:F2} GB");
                rawWrite = RawDisk.SequentialWrite(rawPath, count * valueBytes, valueBytes, _concurrency, warn);
                context.Progress($"  {rawWrite.MBps:F0} MB/s");
            }

            // The log is FIFO: the oldest ids are certainly out of the RAM tier (25% margin for page
            // slack), so reading only those measures the SSD path alone.
            long ssdOnly = count - (long)(_ram.Bytes * 1.25 / valueBytes) - _concurrency;
            var workingSet = new ReadTotals(_concurrency, 0, count, blockDevice, _readInto);
            var ssdResident = ssdOnly >= _concurrency && !_promote ? new ReadTotals(_concurrency, 0, ssdOnly, blockDevice, _readInto) : null;
            var rawRead = _skipRaw ? null : new RawTotals(_concurrency);
            // Compared with the SSD-resident keys, the raw disk reads a span of the same size: anything
            // below the guest that caches (a virtual disk's host) must favour neither side.
            var rawSsdSpan = _skipRaw || ssdResident is null ? null : new RawTotals(_concurrency);
            var slice = _readDuration / _rounds;
            for (int round = 1; round <= _rounds; round++)
            {
                context.Progress($"{size}: read round {round}/{_rounds}, {slice.TotalSeconds:F1} s per phase");
                PageCache.Drop(warn);
                await workingSet.RunAsync(ns, valueBytes, slice, ct);
                if (ssdResident is not null)
                {
                    PageCache.Drop(warn);
                    await ssdResident.RunAsync(ns, valueBytes, slice, ct);
                }
                if (rawRead is not null)
                {
                    PageCache.Drop(warn);
                    rawRead.Add(RawDisk.RandomRead(rawPath, valueBytes, _concurrency, slice, warn, rawRead.Latency));
                }
                if (rawSsdSpan is not null)
                {
                    PageCache.Drop(warn);
                    rawSsdSpan.Add(RawDisk.RandomRead(rawPath, valueBytes, _concurrency, slice, warn, rawSsdSpan.Latency, spanBlocks: ssdOnly));
                }
            }
            context.Progress($"  working set {workingSet.MBps:F0} MB/s ({workingSet.SsdHits} SSD hits, {workingSet.Misses} misses, {workingSet.Mismatches} mismatches)" +
                             (ssdResident is null ? "" : $", SSD-resident {ssdResident.MBps:F0} MB/s") +
                             (rawRead is null ? "" : $", raw {rawRead.MBps:F0} MB/s") +
                             (rawSsdSpan is null ? "" : $", raw over the SSD-resident span {rawSsdSpan.MBps:F0} MB/s"));
            return new SizeRun(write, rawWrite, workingSet, ssdResident, rawRead, rawSsdSpan, PeakRss.Read(), baselineRss);
        }
        finally
        {
            File.Delete(rawPath);
            if (!_keep && Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
    }

    private EngineOptions EngineOptionsFor(string directory, int valueBytes, long count) => new()
    {
        DataDirectory = directory,
        DirectIo = !_buffered,
        IoThreads = _ioThreads,
        ReadPieceBytes = _readPiece,
        MaxValueBytes = new ByteSize(Math.Max(valueBytes, ByteSize.FromMiB(64).Bytes)),
        Namespaces =
        {
            ["kv"] = new NamespaceOptions
            {
                Kind = NamespaceKind.Kv,
                RamBytes = _ram,
                // Room for the whole working set twice over: the benchmark measures reads, not eviction.
                SsdBytes = new ByteSize(_ram.Bytes + 2 * count * valueBytes + 4 * _segmentBytes.Bytes + ByteSize.FromMiB(256).Bytes),
                PageBytes = _pageBytes,
                SegmentBytes = _segmentBytes,
                ReadHintBytes = new ByteSize(valueBytes),
                PromoteOnHit = _promote,
            },
        },
    };

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
        }, cancellationToken: ct);
        await ns.CommitAsync(ct);
        stopwatch.Stop();
        return new WriteRun(count * valueBytes, stopwatch.Elapsed, load.Latency, DiskStats.Read(blockDevice) - disk, cpu.CoresUsed());
    }

    /// <summary>Uniformly random ids in [from, to), accumulated over the slices of one read phase; every value is checked.</summary>
    private sealed class ReadTotals(int concurrency, long from, long to, string blockDevice, bool readInto = false)
    {
        private byte[][]? _places;
        private readonly Random[] _randoms = Enumerable.Range(0, concurrency).Select(_ => new Random()).ToArray();
        private long _bytes, _ssdBytes, _ramHits, _ssdHits, _misses, _mismatches, _operations;
        private TimeSpan _elapsed, _cpu;
        private DiskStats _disk;

        public LatencyRecorder Latency { get; } = new(concurrency);
        public LatencyRecorder SsdHitLatency { get; } = new(concurrency);
        public long Operations => _operations;
        public long Bytes => _bytes;
        public long SsdBytes => _ssdBytes;
        public long RamHits => _ramHits;
        public long SsdHits => _ssdHits;
        public long Misses => _misses;
        public long Mismatches => _mismatches;
        public DiskStats Disk => _disk;
        public double MBps => _elapsed > TimeSpan.Zero ? _bytes / 1e6 / _elapsed.TotalSeconds : 0;
        public double Cores => _elapsed > TimeSpan.Zero ? _cpu / _elapsed : 0;

        private void Count(int worker, long start, long length, Tier tier)
        {
            Interlocked.Add(ref _bytes, length);
            if (tier == Tier.Ssd)
            {
                SsdHitLatency.Record(worker, start);
                Interlocked.Increment(ref _ssdHits);
                Interlocked.Add(ref _ssdBytes, length);
            }
            else
            {
                Interlocked.Increment(ref _ramHits);
            }
        }

        public async Task RunAsync(ICacheNamespace ns, int valueBytes, TimeSpan duration, CancellationToken ct)
        {
            if (readInto) _places ??= Enumerable.Range(0, concurrency).Select(_ => GC.AllocateArray<byte>(valueBytes, pinned: true)).ToArray();
            var disk = DiskStats.Read(blockDevice);
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var load = await Load.RunAsync(concurrency, duration, async worker =>
            {
                long id = from + _randoms[worker].NextInt64(to - from);
                long start = Stopwatch.GetTimestamp();
                if (readInto)
                {
                    var place = _places![worker];
                    var got = await ns.ReadIntoAsync(ValuePattern.Key(id), place, ct);
                    if (got.Outcome != ReadIntoOutcome.Hit)
                    {
                        Interlocked.Increment(ref _misses);
                        return true;
                    }
                    if (!ValuePattern.Verify(place.AsSpan(0, (int)got.Length), id, valueBytes)) Interlocked.Increment(ref _mismatches);
                    Count(worker, start, got.Length, got.Tier);
                    return true;
                }
                using var value = await ns.GetAsync(ValuePattern.Key(id), ct);
                if (value is null)
                {
                    Interlocked.Increment(ref _misses);
                    return true;
                }
                if (!ValuePattern.Verify(value.Span, id, valueBytes)) Interlocked.Increment(ref _mismatches);
                Count(worker, start, value.Length, value.Tier);
                return true;
            }, Latency, ct);
            _cpu += Process.GetCurrentProcess().TotalProcessorTime - cpu;
            _elapsed += load.Elapsed;
            _operations += load.Operations;
            _disk += DiskStats.Read(blockDevice) - disk;
        }
    }

    /// <summary>Raw random reads accumulated over the slices of the phase.</summary>
    private sealed class RawTotals(int concurrency)
    {
        private long _bytes, _operations;
        private TimeSpan _elapsed;
        private double _cpuSeconds;

        public LatencyRecorder Latency { get; } = new(concurrency);
        public bool DirectIo { get; private set; } = true;
        public double MBps => _elapsed > TimeSpan.Zero ? _bytes / 1e6 / _elapsed.TotalSeconds : 0;
        public double Cores => _elapsed > TimeSpan.Zero ? _cpuSeconds / _elapsed.TotalSeconds : 0;

        public void Add(RawDiskResult slice)
        {
            _bytes += slice.Bytes;
            _operations += slice.Ops;
            _elapsed += slice.Elapsed;
            _cpuSeconds += slice.CpuCores * slice.Elapsed.TotalSeconds;
            DirectIo &= slice.DirectIo;
        }
    }

    private static ScenarioResult NewResult() => new ScenarioResult()
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
        .Column("rss_before_engine_mib", "RSS before engine MiB")
        .Column("peak_rss_mib", "peak RSS MiB")
        .Column("rss_vs_ram", "peak RSS / RAM budget");

    private void AddRows(ScenarioResult result, ByteSize size, SizeRun run)
    {
        string suffix = Suffix(size);
        double peakMiB = run.PeakRss / (1024.0 * 1024);
        double rssVsRam = (double)run.PeakRss / _ram.Bytes;

        var w = run.Write;
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
        write["rss_before_engine_mib"] = run.BaselineRss / (1024.0 * 1024);
        if (run.RawWrite is { } raw)
        {
            write["raw_mbps"] = raw.MBps;
            write["raw_p50_ms"] = raw.Latency.P50Ms;
            write["raw_p99_ms"] = raw.Latency.P99Ms;
            write["raw_cpu_cores"] = raw.CpuCores;
            write["raw_direct_io"] = raw.DirectIo;
            write["ratio"] = writeMBps / raw.MBps;
            AddRatio(result, "ssd_write_vs_disk", suffix, writeMBps / raw.MBps);
        }

        AddReadRow(result, size, "random read, working set", "ssd_randread_vs_disk", run.WorkingSet, run.RawRead, peakMiB, rssVsRam);
        if (run.SsdResident is not null)
            AddReadRow(result, size, "random read, SSD-resident keys", "ssd_only_randread_vs_disk", run.SsdResident, run.RawSsdSpan, peakMiB, rssVsRam);
    }

    private static void AddReadRow(ScenarioResult result, ByteSize size, string phase, string ratioName, ReadTotals r, RawTotals? raw,
        double peakMiB, double rssVsRam)
    {
        var latency = r.Latency.Summarize();
        var ssdLatency = r.SsdHitLatency.Summarize();
        long hits = r.RamHits + r.SsdHits;
        var row = result.AddRow();
        row["value"] = size.ToString();
        row["phase"] = phase;
        row["engine_mbps"] = r.MBps;
        row["engine_p50_ms"] = latency.P50Ms;
        row["engine_p99_ms"] = latency.P99Ms;
        row["ssd_hit_p50_ms"] = ssdLatency.P50Ms;
        row["ssd_hit_p99_ms"] = ssdLatency.P99Ms;
        row["ops"] = r.Operations;
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
        var rawLatency = raw.Latency.Summarize();
        row["raw_mbps"] = raw.MBps;
        row["raw_p50_ms"] = rawLatency.P50Ms;
        row["raw_p99_ms"] = rawLatency.P99Ms;
        row["raw_cpu_cores"] = raw.Cores;
        row["raw_direct_io"] = raw.DirectIo;
        row["ratio"] = r.MBps / raw.MBps;
        AddRatio(result, ratioName, Suffix(size), r.MBps / raw.MBps);
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
