using System.Diagnostics;
using System.Globalization;
using CheckpointCache.Engine.Options;
using CheckpointCache.Perf.Framework;

namespace CheckpointCache.Perf.Scenarios;

/// <summary>
/// The node side by side with the stores a user would otherwise pick for KV-cache offload, and with the
/// machine's own limits, in one run and one harness. Every system gets the same RAM budget (Redis, the
/// RAM-only reference, gets room for the whole working set), a working set of 3x that budget, the same
/// keys and the same bytes; every GET is checked byte-stamp by byte-stamp, and only verified hits count
/// as GET bytes. Servers are started and stopped by perf/peers.sh (one fresh server per value size and
/// system), each in its own folder whose files are kept out of the page cache (<see cref="PageCacheEvictor"/>).
/// </summary>
public sealed partial class PeersScenario : IScenario
{
    private static readonly string[] AllSystems = ["node-uds", "node-uds-copy", "node-tcp", "garnet", "memcached", "redis"];
    private static readonly string[] Peers = ["garnet", "memcached", "redis"];
    private static readonly Dictionary<string, double> MixGetShare = new(StringComparer.Ordinal)
    {
        ["read"] = 1.0,
        ["read-heavy"] = 0.9,
        ["write-heavy"] = 0.1,
    };

    private string _profile = "quick";
    private IReadOnlyList<string> _systems = [], _distributions = [], _mixes = [];
    private IReadOnlyList<ByteSize> _sizes = [];
    private IReadOnlyList<int> _concurrency = [];
    private ByteSize _ram;
    private double _workingSetFactor, _theta, _writeCap;
    private TimeSpan _duration, _warmup, _settle, _limitDuration, _evictPeriod, _diskCheck;
    private int _fillConcurrency;
    private bool _skipLimits, _keep;
    private string _redisClient = "resp";
    private string[] _nodeArgs = [];
    private int _nodeFrameBytes, _rounds;

    /// <summary>perf/peers.sh's node port (PEERS_NODE_PORT, default 17450); the node systems run side by side on it and the next two.</summary>
    private static int NodePort => int.TryParse(Environment.GetEnvironmentVariable("PEERS_NODE_PORT"), CultureInfo.InvariantCulture, out int port) ? port : 17450;

    public string Name => "peers";

    public string Summary => "the node against Garnet (tiered), memcached (extstore), Redis (RAM only) and the machine's limits; servers via perf/peers.sh";

    public string Options => """
        --quick               1 MiB values, concurrency 4, uniform keys, read and read-heavy mixes, 256 MiB RAM (the default)
        --full                256k,1m,4m x concurrency 1,4,16 x uniform,zipfian x read,read-heavy,write-heavy, 512 MiB RAM
        --systems LIST        node-uds,node-uds-copy,node-tcp,garnet,memcached,redis (default all); node-uds reads
                              into shared buffers, node-uds-copy takes values through the socket
        --sizes LIST          value sizes; --concurrency LIST outstanding requests per phase
        --keys LIST           uniform,zipfian; --theta X zipfian constant (default 0.99)
        --mixes LIST          read (100% GET), read-heavy (90% GET, 10% SET), write-heavy (10% GET, 90% SET)
        --ram SIZE            RAM budget of each system; working set = --working-set (default 3) x this
        --seconds S           measured time per phase (quick 8, full 5); --warmup S unmeasured lead-in (default 2)
        --fill-concurrency N  writers of the initial fill (default 4)
        --settle S            after the fill, S seconds of read-heavy traffic at the highest concurrency before any phase
                              (default 15): the .NET servers (node, Garnet) JIT their hot paths to tier 1 meanwhile
        --write-cap X         a phase stops after writing X x the working set (default 1), so logs stay bounded
        --evict-ms MS         page-cache eviction period for the servers' files (default 100; 0 = off)
        --limit-seconds S     duration of each limit measurement (default 3); --skip-limits skips them
        --disk-check-seconds S  after each read phase that read the disk, the raw disk's random read at the phase's
                              value size and concurrency for S seconds (default 2; 0 = off; not with --skip-limits)
        --node-args='A B'     extra --Section:Key=value settings for the node (note the '=')
        --node-frame SIZE     the node client's frame size (CacheClientOptions.FrameBytes; default the client's)
        --rounds N            every measured phase N times, each round visiting every system in a rotated order, all
                              servers running at once; figures are the median round (quick 3, full 1)
        --keep                keep the servers' folders
        """;

    public void Configure(ScenarioArgs args)
    {
        bool full = args.Flag("full");
        bool quick = args.Flag("quick");
        if (full && quick) throw new ArgumentException("--quick and --full exclude each other");
        _profile = full ? "full" : "quick";
        _systems = List(args.String("systems", string.Join(',', AllSystems)));
        _sizes = args.Sizes("sizes", full ? "256k,1m,4m" : "1m");
        _concurrency = List(args.String("concurrency", full ? "1,4,16" : "4")).Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToList();
        _distributions = List(args.String("keys", full ? "uniform,zipfian" : "uniform"));
        _mixes = List(args.String("mixes", full ? "read,read-heavy,write-heavy" : "read,read-heavy"));
        _theta = args.Double("theta", 0.99);
        _ram = args.Size("ram", full ? ByteSize.FromMiB(512) : ByteSize.FromMiB(256));
        _workingSetFactor = args.Double("working-set", 3);
        _duration = TimeSpan.FromSeconds(args.Double("seconds", full ? 5 : 8));
        _warmup = TimeSpan.FromSeconds(args.Double("warmup", 2));
        _settle = TimeSpan.FromSeconds(args.Double("settle", 15));
        _fillConcurrency = args.Int("fill-concurrency", 4);
        _rounds = args.Int("rounds", full ? 1 : 3);
        _writeCap = args.Double("write-cap", 1);
        _evictPeriod = TimeSpan.FromMilliseconds(args.Int("evict-ms", 100));
        _limitDuration = TimeSpan.FromSeconds(args.Double("limit-seconds", 3));
        _diskCheck = TimeSpan.FromSeconds(args.Double("disk-check-seconds", 2));
        _skipLimits = args.Flag("skip-limits");
        _keep = args.Flag("keep");
        _redisClient = args.String("redis-client", "resp");
        if (_redisClient is not ("se" or "resp")) throw new ArgumentException("--redis-client is se or resp");
        _nodeFrameBytes = (int)args.Size("node-frame", new ByteSize(new CheckpointCache.Client.CacheClientOptions().FrameBytes)).Bytes;
        _nodeArgs = args.String("node-args", "").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

        foreach (var s in _systems)
            if (!AllSystems.Contains(s)) throw new ArgumentException($"--systems: unknown system '{s}' ({string.Join(", ", AllSystems)})");
        foreach (var m in _mixes)
            if (!MixGetShare.ContainsKey(m)) throw new ArgumentException($"--mixes: unknown mix '{m}' ({string.Join(", ", MixGetShare.Keys)})");
        foreach (var d in _distributions)
            if (d is not ("uniform" or "zipfian")) throw new ArgumentException($"--keys: unknown distribution '{d}' (uniform, zipfian)");
        if (_concurrency.Count == 0 || _concurrency.Any(c => c < 1)) throw new ArgumentException("--concurrency must list numbers of at least 1");
        if (_sizes.Any(s => s.Bytes < 4096 || s.Bytes > 8 * ByteSize.MiB - 64 * ByteSize.KiB))
            throw new ArgumentException("--sizes must be between 4KiB and 8MiB less 64KiB (memcached's item limit here)");
        if (_fillConcurrency < 1) throw new ArgumentException("--fill-concurrency must be at least 1");
        if (_rounds < 1) throw new ArgumentException("--rounds must be at least 1");
    }

    private static List<string> List(string text) => text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();

    public async Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        var result = NewResult();
        void Warn(string message)
        {
            context.Progress("WARNING: " + message);
            if (!result.Notes.Contains(message)) result.Notes.Add(message);
        }

        result.Notes.Add($"profile {_profile}: RAM budget {_ram} per system (Redis: room for the whole working set), working set {_workingSetFactor} x RAM, " +
                         $"{_duration.TotalSeconds:F0} s per phase after {_warmup.TotalSeconds:F0} s of warm-up, fill with {_fillConcurrency} writers then {_settle.TotalSeconds:F0} s of read-heavy traffic, " +
                         $"page cache dropped before each phase and the servers' files evicted from it every {_evictPeriod.TotalMilliseconds:F0} ms");
        result.Notes.Add("GB = 10^9 bytes of values; GET GB/s counts verified hits only; hits % = verified hits / GETs; one connection per worker for every system; " +
                         "client and servers share the machine's cores");
        result.Notes.Add("mixes: read = 100% GET, read-heavy = 90% GET + 10% SET, write-heavy = 10% GET + 90% SET; SETs rewrite existing keys with the same bytes");
        if (context.Machine.LogicalCores <= 2) result.Notes.Add($"{context.Machine.LogicalCores} cores: the harness, the server and the kernel's copies compete for them");
        result.Notes.Add(_redisClient == "se" ? "Garnet and Redis through StackExchange.Redis (GET into a pooled lease), memcached through its meta protocol"
            : "Garnet and Redis through this harness's RESP2 client, memcached through its meta protocol");
        if (_nodeArgs.Length > 0) result.Notes.Add("node settings: " + string.Join(' ', _nodeArgs));
        result.Notes.Add($"rounds: all servers of a value size run at once; every measured phase runs {_rounds} time(s), each round visiting every system in an order " +
                         "rotated from the last; median_round marks each system's median round, the one the chart and tables show; node/peer ratios pair the same round " +
                         "and are the median over the rounds (_min and _max beside the headline)");

        var limits = new Limits();
        if (!_skipLimits) MeasureMachineLimits(context, result, limits);

        var cells = new List<Cell>();
        foreach (var size in _sizes)
        {
            int valueBytes = (int)size.Bytes;
            long count = Math.Max(_concurrency.Max() * 2, (long)(_ram.Bytes * _workingSetFactor / valueBytes));
            string? rawFile = _skipLimits ? null : MeasureDiskLimits(context, result, limits, size, count, Warn);
            try
            {
                cells.AddRange(await RunSizeAsync(context, result, size, count, _diskCheck > TimeSpan.Zero ? rawFile : null, Warn, cancellationToken));
            }
            finally
            {
                if (rawFile is not null) File.Delete(rawFile);
            }
        }
        if (!_skipLimits && _diskCheck > TimeSpan.Zero)
            result.Notes.Add($"raw disk after: right after each read phase that read the disk, {_diskCheck.TotalSeconds:F0} s of O_DIRECT random reads at its value size and " +
                             "concurrency (the server idle meanwhile); disk_read_vs_raw_after is the server's own disk reads in the phase over it. This shared disk's rate moves by tens of percent within minutes. " +
                             $"tiered_ceiling_gbps (uniform read phases): that rate / (1 - 1/{_workingSetFactor}), the most any store answering every GET can serve when at most " +
                             "RAM / working set of the values sit in RAM and the rest comes from this disk; vs_tiered_ceiling is the system's GET rate over it");
        AddComparisons(result, cells, limits);
        return result;
    }

    // ---------------------------------------------------------------- limits

    private sealed class Limits
    {
        public double Memcpy1, Memcpy2, Tcp, Uds;
        public Dictionary<(long Size, int Qd), double> DiskRandomRead { get; } = [];
        public Dictionary<long, double> DiskWrite { get; } = [];
    }

    private void MeasureMachineLimits(ScenarioContext context, ScenarioResult result, Limits limits)
    {
        context.Progress("limits: memcpy and loopback");
        var memcpy1 = MachineLimits.Memcpy(1, 256 << 20, _limitDuration);
        var memcpy2 = MachineLimits.Memcpy(2, 128 << 20, _limitDuration);
        limits.Memcpy1 = memcpy1.GBps;
        limits.Memcpy2 = memcpy2.GBps;
        AddLimitRow(result, memcpy1);
        AddLimitRow(result, memcpy2);
        foreach (bool uds in new[] { false, true })
        {
            foreach (int streams in new[] { 1, 4 })
            {
                var l = MachineLimits.Loopback(uds, streams, 1 << 20, _limitDuration, context.DataDirectory);
                AddLimitRow(result, l);
                if (uds) limits.Uds = Math.Max(limits.Uds, l.GBps);
                else limits.Tcp = Math.Max(limits.Tcp, l.GBps);
            }
        }
        GC.Collect();
        context.Progress($"  memcpy {limits.Memcpy1:F1} / {limits.Memcpy2:F1} GB/s (1/2 threads), loopback TCP {limits.Tcp:F2} GB/s, Unix socket {limits.Uds:F2} GB/s");
    }

    /// <summary>Measures the disk at this value size; returns the file it read, kept for the checks after each read phase (the caller deletes it).</summary>
    private string MeasureDiskLimits(ScenarioContext context, ScenarioResult result, Limits limits, ByteSize size, long count, Action<string> warn)
    {
        int valueBytes = (int)size.Bytes;
        string path = Path.Combine(context.DataDirectory, $"raw-{Suffix(size)}.dat");
        try
        {
            context.Progress($"limits: raw disk, {size} blocks");
            var write = RawDisk.SequentialWrite(path, count * valueBytes, valueBytes, 4, warn);
            limits.DiskWrite[size.Bytes] = write.MBps / 1000;
            AddLimitRow(result, new LimitResult("raw disk: " + write.Pattern, write.Bytes, write.Elapsed, write.CpuCores), size, write.Latency);
            foreach (int qd in _concurrency)
            {
                PageCache.Drop(warn);
                var read = RawDisk.RandomRead(path, valueBytes, qd, _limitDuration, warn);
                limits.DiskRandomRead[(size.Bytes, qd)] = read.MBps / 1000;
                AddLimitRow(result, new LimitResult("raw disk: " + read.Pattern, read.Bytes, read.Elapsed, read.CpuCores), size, read.Latency);
                context.Progress($"  random read QD {qd}: {read.MBps:F0} MB/s");
            }
            return path;
        }
        catch
        {
            File.Delete(path);
            throw;
        }
    }

    private static void AddLimitRow(ScenarioResult result, LimitResult limit, ByteSize? size = null, LatencySummary? latency = null)
    {
        var row = result.AddRow();
        row["system"] = "limit";
        row["phase"] = limit.Name;
        if (size is { } s) row["value"] = s.ToString();
        row["limit_gbps"] = limit.GBps;
        row["client_cpu_cores"] = limit.CpuCores;
        if (latency is not null)
        {
            row["get_p50_ms"] = latency.P50Ms;
            row["get_p99_ms"] = latency.P99Ms;
        }
    }

    private static string Mib(long bytes) => Math.Max(1, (bytes + (1 << 20) - 1) >> 20).ToString(CultureInfo.InvariantCulture);

    private static long FolderBytes(string folder)
    {
        try
        {
            return Directory.Exists(folder)
                ? Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length)
                : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>Runs perf/peers.sh and parses its "name=value" output.</summary>
    private static async Task<Dictionary<string, string>> PeersScript(ScenarioContext context, IReadOnlyList<string> args, CancellationToken ct,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var script = Path.Combine(RepoPaths.Root, "perf", "peers.sh");
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        info.ArgumentList.Add(script);
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not run perf/peers.sh");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        var output = await stdout;
        var errors = await stderr;
        if (errors.Length > 0) context.Progress(errors.TrimEnd());
        if (process.ExitCode != 0) throw new InvalidOperationException($"perf/peers.sh {string.Join(' ', args)} failed ({process.ExitCode}): {errors.Trim()}");
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var token in output.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = token.IndexOf('=');
            if (eq > 0 && !values.ContainsKey(token[..eq])) values[token[..eq]] = token[(eq + 1)..];
        }
        return values;
    }

    // ---------------------------------------------------------------- load

    private sealed class PhaseStats(int workers)
    {
        public long Gets, Hits, Misses, Mismatches, GetBytes, Sets, SetRefused, SetBytes;
        public TimeSpan Elapsed;
        public double ServerCores, ClientCores, OtherCores;
        public DiskStats Disk;
        public LatencyRecorder GetLatency { get; } = new(workers);
        public LatencyRecorder SetLatency { get; } = new(workers);
        public double Seconds => Math.Max(Elapsed.TotalSeconds, 1e-9);
        public double GetGBps => GetBytes / 1e9 / Seconds;
        public double SetGBps => SetBytes / 1e9 / Seconds;
        public double HitPct => Gets > 0 ? 100.0 * Hits / Gets : double.NaN;
    }

    private async Task<PhaseStats> FillAsync(IKvTarget target, int valueBytes, long count, int pid, string blockDevice, CancellationToken ct)
    {
        long next = -1;
        return await MeasureAsync(target, valueBytes, _fillConcurrency, null, pid, blockDevice, async (worker, buffer, stats) =>
        {
            long id = Interlocked.Increment(ref next);
            if (id >= count) return false;
            await SetAsync(target, worker, id, buffer, stats, ct);
            return true;
        });
    }

    private async Task<PhaseStats> RunPhaseAsync(IKvTarget target, int valueBytes, int concurrency, KeyChooser chooser, double getShare, TimeSpan duration,
        long dataBytes, int pid, string blockDevice, CancellationToken ct)
    {
        var randoms = Enumerable.Range(0, concurrency).Select(_ => new Random()).ToArray();
        long writeCap = (long)(_writeCap * dataBytes);
        long written = 0;
        return await MeasureAsync(target, valueBytes, concurrency, duration, pid, blockDevice, async (worker, buffer, stats) =>
        {
            var random = randoms[worker];
            long id = chooser.Next(random);
            if (random.NextDouble() < getShare)
            {
                long start = Stopwatch.GetTimestamp();
                var outcome = await target.GetAsync(worker, id, valueBytes, ct);
                stats.GetLatency.Record(worker, start);
                Interlocked.Increment(ref stats.Gets);
                switch (outcome)
                {
                    case GetOutcome.Hit:
                        Interlocked.Increment(ref stats.Hits);
                        Interlocked.Add(ref stats.GetBytes, valueBytes);
                        break;
                    case GetOutcome.Miss:
                        Interlocked.Increment(ref stats.Misses);
                        break;
                    default:
                        Interlocked.Increment(ref stats.Mismatches);
                        break;
                }
                return true;
            }
            if (Interlocked.Add(ref written, valueBytes) > writeCap) return false;
            await SetAsync(target, worker, id, buffer, stats, ct);
            return true;
        });
    }

    private static async Task SetAsync(IKvTarget target, int worker, long id, byte[] buffer, PhaseStats stats, CancellationToken ct)
    {
        ValuePattern.Stamp(buffer, id);
        long start = Stopwatch.GetTimestamp();
        bool stored = await target.SetAsync(worker, id, buffer, ct);
        stats.SetLatency.Record(worker, start);
        Interlocked.Increment(ref stats.Sets);
        if (stored) Interlocked.Add(ref stats.SetBytes, buffer.Length);
        else Interlocked.Increment(ref stats.SetRefused);
    }

    /// <summary>Runs <paramref name="operation"/> from each worker until it returns false or the duration passes.</summary>
    private static async Task<PhaseStats> MeasureAsync(IKvTarget target, int valueBytes, int workers, TimeSpan? duration, int pid, string blockDevice,
        Func<int, byte[], PhaseStats, ValueTask<bool>> operation)
    {
        var stats = new PhaseStats(workers);
        var buffers = Enumerable.Range(0, workers).Select(_ => ValuePattern.NewBuffer(valueBytes)).ToArray();
        long deadline = duration is { } d ? Stopwatch.GetTimestamp() + (long)(d.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
        double serverCpu = ProcessStats.CpuSeconds(pid);
        var clientCpu = Process.GetCurrentProcess().TotalProcessorTime;
        var disk = DiskStats.Read(blockDevice);
        double machineBusy = MachineBusySeconds();
        var stopwatch = Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            while (Stopwatch.GetTimestamp() < deadline)
            {
                if (!await operation(w, buffers[w], stats).ConfigureAwait(false)) break;
            }
        })).ToArray();
        await Task.WhenAll(tasks);
        stopwatch.Stop();
        stats.Elapsed = stopwatch.Elapsed;
        stats.ServerCores = (ProcessStats.CpuSeconds(pid) - serverCpu) / stats.Seconds;
        stats.ClientCores = (Process.GetCurrentProcess().TotalProcessorTime - clientCpu).TotalSeconds / stats.Seconds;
        stats.Disk = DiskStats.Read(blockDevice) - disk;
        stats.OtherCores = Math.Max(0, (MachineBusySeconds() - machineBusy) / stats.Seconds - stats.ServerCores - stats.ClientCores);
        _ = target;
        return stats;
    }

    /// <summary>CPU seconds the whole machine spent busy so far (/proc/stat: all but idle and iowait).</summary>
    private static double MachineBusySeconds()
    {
        try
        {
            var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            // cpu user nice system idle iowait irq softirq steal
            long busy = long.Parse(f[1]) + long.Parse(f[2]) + long.Parse(f[3]) + long.Parse(f[6]) + long.Parse(f[7]) + long.Parse(f[8]);
            return busy / 100.0;
        }
        catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException)
        {
            return 0;
        }
    }

    // ---------------------------------------------------------------- report

    private static ScenarioResult NewResult() => new ScenarioResult()
        .Column("system", "system")
        .Column("value", "value")
        .Column("concurrency", "conc")
        .Column("keys", "keys")
        .Column("phase", "phase")
        .Column("round", "round")
        .Column("get_ops", "GET ops/s")
        .Column("get_gbps", "GET GB/s")
        .Column("get_p50_ms", "GET p50 ms")
        .Column("get_p99_ms", "GET p99 ms")
        .Column("hit_pct", "hits %")
        .Column("set_ops", "SET ops/s")
        .Column("set_gbps", "SET GB/s")
        .Column("set_p50_ms", "SET p50 ms")
        .Column("set_p99_ms", "SET p99 ms")
        .Column("server_cpu_cores", "server CPU")
        .Column("client_cpu_cores", "client CPU")
        .Column("other_cpu_cores", "others' CPU")
        .Column("server_peak_rss_mib", "server peak RSS MiB")
        .Column("limit_gbps", "limit GB/s")
        .Column("vs_garnet", "node / Garnet")
        .Column("vs_memcached", "node / memcached")
        .Column("vs_redis", "node / Redis")
        .Column("vs_disk", "GB/s / disk")
        .Column("vs_loopback", "GB/s / loopback");

    private static Dictionary<string, object?> AddPhaseRow(ScenarioResult result, string system, ByteSize size, int concurrency, string keys, string mix, PhaseStats s)
    {
        var get = s.GetLatency.Summarize();
        var set = s.SetLatency.Summarize();
        var row = result.AddRow();
        row["system"] = system;
        row["value"] = size.ToString();
        row["concurrency"] = concurrency;
        row["keys"] = keys;
        row["phase"] = mix;
        row["seconds"] = s.Seconds;
        if (s.Gets > 0)
        {
            row["get_ops"] = s.Gets / s.Seconds;
            row["get_gbps"] = s.GetGBps;
            row["get_p50_ms"] = get.P50Ms;
            row["get_p99_ms"] = get.P99Ms;
            row["hit_pct"] = s.HitPct;
            row["misses"] = s.Misses;
            row["mismatches"] = s.Mismatches;
        }
        if (s.Sets > 0)
        {
            row["set_ops"] = s.Sets / s.Seconds;
            row["set_gbps"] = s.SetGBps;
            row["set_p50_ms"] = set.P50Ms;
            row["set_p99_ms"] = set.P99Ms;
            row["set_refused"] = s.SetRefused;
        }
        row["server_cpu_cores"] = s.ServerCores;
        row["client_cpu_cores"] = s.ClientCores;
        row["other_cpu_cores"] = s.OtherCores;
        row["disk_read_gb"] = s.Disk.ReadBytes / 1e9;
        row["disk_write_gb"] = s.Disk.WriteBytes / 1e9;
        if (s.GetBytes > 0) row["disk_read_per_get_byte"] = (double)s.Disk.ReadBytes / s.GetBytes;
        return row;
    }

    /// <summary>
    /// Ratios of the node to each peer, paired round by round (both measured within a minute of each other) and
    /// reported as the median over the rounds, and of every system to the machine's limits.
    /// </summary>
    private void AddComparisons(ScenarioResult result, List<Cell> cells, Limits limits)
    {
        foreach (var cell in cells) AddLimitComparisons(cell, limits);

        foreach (var phase in cells.Where(c => c.System.StartsWith("node", StringComparison.Ordinal)).GroupBy(c => (c.System, c.Size, c.Concurrency, c.Keys, c.Mix)))
        {
            var first = phase.First();
            string suffix = Suffix(new ByteSize(first.Size));
            string prefix = first.System switch { "node-uds" => "node", "node-uds-copy" => "node_uds_copy", _ => "node_tcp" };
            string op = first.Reading ? "get" : "set";
            bool headline = first.Concurrency == 4 && first.Keys == "uniform" && first.Mix == "read";
            string where = first.Mix == "fill" ? "fill" : $"c{first.Concurrency}_{first.Keys}_{first.Mix.Replace('-', '_')}";
            foreach (var peer in Peers)
            {
                var perRound = new List<double>();
                foreach (var cell in phase)
                {
                    var other = cells.FirstOrDefault(c => c.System == peer && c.SamePhase(cell) && c.Round == cell.Round);
                    if (other is null || other.GBps <= 0) continue;
                    double ratio = cell.GBps / other.GBps;
                    cell.Row["vs_" + peer] = ratio;
                    perRound.Add(ratio);
                }
                if (perRound.Count == 0) continue;
                result.Ratios[$"{prefix}_vs_{peer}_{op}_{suffix}_{where}"] = Median(perRound);
                if (!headline) continue;
                // The headline: 1 MiB values, 4 outstanding GETs, uniform keys, reads only.
                result.Ratios[$"{prefix}_vs_{peer}_get_{suffix}"] = Median(perRound);
                if (perRound.Count > 1)
                {
                    result.Ratios[$"{prefix}_vs_{peer}_get_{suffix}_min"] = perRound.Min();
                    result.Ratios[$"{prefix}_vs_{peer}_get_{suffix}_max"] = perRound.Max();
                }
            }
            if (!headline) continue;
            var median = phase.FirstOrDefault(c => c.Row.TryGetValue("median_round", out var m) && m is true) ?? first;
            void FromRow(string column, string name)
            {
                if (median.Row.TryGetValue(column, out var v) && v is double d) result.Ratios[name] = d;
            }
            FromRow("vs_disk", $"{prefix}_vs_disk_randread_{suffix}");
            FromRow("disk_read_vs_raw", $"{prefix}_disk_read_vs_raw_randread_{suffix}");
            FromRow("vs_loopback", $"{prefix}_vs_loopback_{suffix}");
            if (limits.Memcpy2 > 0) result.Ratios[$"{prefix}_vs_memcpy_{suffix}"] = median.GBps / limits.Memcpy2;
            var afterRatios = phase.Select(c => c.Row.GetValueOrDefault("disk_read_vs_raw_after")).OfType<double>().ToList();
            if (afterRatios.Count > 0) result.Ratios[$"{prefix}_disk_read_vs_raw_after_{suffix}"] = Median(afterRatios);
            var ceilingRatios = phase.Select(c => c.Row.GetValueOrDefault("vs_tiered_ceiling")).OfType<double>().ToList();
            if (ceilingRatios.Count > 0) result.Ratios[$"{prefix}_vs_tiered_ceiling_{suffix}"] = Median(ceilingRatios);
            // Redis above the node's ceiling in a round: no store keeping the rest of the working set on this disk could have matched it then.
            var redisRatios = new List<double>();
            foreach (var cell in phase)
            {
                var redis = cells.FirstOrDefault(c => c.System == "redis" && c.SamePhase(cell) && c.Round == cell.Round);
                if (redis is not null && redis.GBps > 0 && cell.Row.TryGetValue("tiered_ceiling_gbps", out var tc) && tc is double ceiling)
                    redisRatios.Add(redis.GBps / ceiling);
            }
            if (redisRatios.Count > 0) result.Ratios[$"redis_vs_{prefix}_tiered_ceiling_{suffix}"] = Median(redisRatios);
        }
    }

    /// <summary>One phase's rate against the machine's limits: the raw disk at the start of the run and right after the phase, and loopback.</summary>
    private void AddLimitComparisons(Cell cell, Limits limits)
    {
        bool reading = cell.Reading;
        double gbps = cell.GBps;
        if (cell.Mix == "fill" ? limits.DiskWrite.TryGetValue(cell.Size, out var disk)
                : reading ? limits.DiskRandomRead.TryGetValue((cell.Size, cell.Concurrency), out disk) : limits.DiskWrite.TryGetValue(cell.Size, out disk))
        {
            cell.Row["vs_disk"] = gbps / disk;
            // How much of the disk a tiered system used: its own reads of the device against the raw rate.
            if (reading && cell.Stats.Disk.ReadBytes > 0) cell.Row["disk_read_vs_raw"] = cell.Stats.Disk.ReadBytes / 1e9 / cell.Stats.Seconds / disk;
        }
        if (reading && cell.Stats.Disk.ReadBytes > 0 && cell.Row.TryGetValue("raw_disk_after_gbps", out var after) && after is double rawAfter && rawAfter > 0)
        {
            cell.Row["disk_read_vs_raw_after"] = cell.Stats.Disk.ReadBytes / 1e9 / cell.Stats.Seconds / rawAfter;
            double ceiling = TieredCeiling(rawAfter);
            if (cell.Keys == "uniform" && cell.Mix == "read" && ceiling > 0)
            {
                cell.Row["tiered_ceiling_gbps"] = ceiling;
                cell.Row["vs_tiered_ceiling"] = gbps / ceiling;
            }
        }
        double loopback = cell.System.StartsWith("node-uds", StringComparison.Ordinal) ? limits.Uds : limits.Tcp;
        if (loopback > 0) cell.Row["vs_loopback"] = gbps / loopback;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        int mid = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>
    /// The most GET bytes per second any store that answers every GET can serve under uniform keys with this
    /// RAM budget: at most RAM / working set of the values are in RAM, so at least the rest of every GET byte
    /// comes from the disk, at the rate the raw disk gave right after the phase.
    /// </summary>
    private double TieredCeiling(double rawDiskGBps)
    {
        double diskShare = 1 - 1 / _workingSetFactor;
        return diskShare > 0 ? rawDiskGBps / diskShare : 0;
    }

    private static string Suffix(ByteSize size)
    {
        if (size.Bytes % ByteSize.MiB == 0) return $"{size.Bytes / ByteSize.MiB}m";
        if (size.Bytes % ByteSize.KiB == 0) return $"{size.Bytes / ByteSize.KiB}k";
        return size.Bytes.ToString(CultureInfo.InvariantCulture);
    }
}
