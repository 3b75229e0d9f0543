using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using CheckpointCache.Client;
using CheckpointCache.Client.SharedMemory;
using CheckpointCache.Engine;
using CheckpointCache.Engine.Options;
using CheckpointCache.Node.Hosting;
using CheckpointCache.Perf.Framework;
using CheckpointCache.Rpc.Kv.V1;
using Microsoft.Extensions.DependencyInjection;

namespace CheckpointCache.Perf.Scenarios;

/// <summary>
/// The node's gRPC path against what lies under it. A node runs in this process (real engine, real
/// Kestrel on a Unix socket and loopback TCP); for each value size and concurrency it measures BatchPut
/// and BatchGet over both transports, the same reads straight from the engine in process, and a plain
/// loopback socket that copies the same number of bytes per request (the transport's ceiling). Reads hit
/// values just written and resident in the RAM tier, so the figures are the RPC layer's, not the disk's.
/// </summary>
public sealed class RpcScenario : IScenario
{
    private IReadOnlyList<ByteSize> _sizes = [];
    private IReadOnlyList<int> _concurrency = [];
    private TimeSpan _duration;
    private int _batch, _prefixBatch, _prefixRounds;
    private ByteSize _workingSet;
    private bool _skipTcp;
    private HashSet<string> _paths = [];
    private bool _hugePages;
    private int _hugeBuffers, _ordinaryBuffers;

    public string Name => "rpc";

    public string Summary => "BatchPut/BatchGet over the Unix socket and TCP against the in-process engine and a plain loopback socket copy";

    public string Options => """
        --sizes LIST          value sizes (default 256k,1m,4m)
        --concurrency LIST    outstanding calls (default 1,4,16)
        --batch N             values per BatchPut/BatchGet call (default 1)
        --prefix-batch N      also time 1 MiB gets at concurrency 4 with N values per call, shared buffers
                              and in process, as an inference server loads a prefix (default 16; 1 skips it)
        --prefix-rounds N     the prefix phases take turns N times, --seconds each turn, and are summed (default 3)
        --seconds S           duration of each measured phase (default 3)
        --working-set SIZE    bytes of values per size, kept resident in RAM (default 128MiB)
        --skip-tcp            measure the Unix socket only
        --paths LIST          only these client paths (uds-shared,uds,uds-grpc,tcp; default all), for profiling one
        --huge-pages MODE     auto (default): shared buffers in huge pages, the pool (vm.nr_hugepages) raised for the
                              run when root, as docs/operations.md advises for co-located clients; off: ordinary pages
        """;

    public void Configure(ScenarioArgs args)
    {
        _sizes = args.Sizes("sizes", "256k,1m,4m");
        _concurrency = args.String("concurrency", "1,4,16").Split(',').Select(int.Parse).ToList();
        _batch = args.Int("batch", 1);
        _prefixBatch = args.Int("prefix-batch", 16);
        _prefixRounds = args.Int("prefix-rounds", 3);
        _duration = TimeSpan.FromSeconds(args.Double("seconds", 3));
        _workingSet = args.Size("working-set", ByteSize.FromMiB(128));
        _skipTcp = args.Flag("skip-tcp");
        _paths = args.String("paths", "").Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        string huge = args.String("huge-pages", "auto");
        if (huge is not ("auto" or "off")) throw new ArgumentException("--huge-pages takes auto or off");
        _hugePages = huge == "auto";
        if (_concurrency.Any(c => c < 1) || _batch < 1 || _prefixBatch < 1 || _prefixRounds < 1) throw new ArgumentException("--concurrency, --batch, --prefix-batch and --prefix-rounds must be at least 1");
        if (_sizes.Any(s => s.Bytes < 4096 || s.Bytes > 64 * ByteSize.MiB)) throw new ArgumentException("--sizes must be between 4KiB and 64MiB");
    }

    public async Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        var result = new ScenarioResult()
            .Column("path", "path").Column("op", "op").Column("size", "value").Column("concurrency", "conc").Column("batch", "batch")
            .Column("mb_s", "MB/s").Column("calls_s", "calls/s").Column("p50_ms", "p50 ms").Column("p99_ms", "p99 ms").Column("ram_share", "RAM hits");
        result.Notes.Add($"{_batch} value(s) per call, {_duration.TotalSeconds:F0} s per phase, working set {_workingSet} per size kept in a {RamBudget} RAM tier; MB/s are 10^6 bytes of values per second");

        // Room for the largest size's buffers: one per call in flight, each a call's values.
        long bufferBytes = _sizes.Max(s => s.Bytes) * Math.Max(_batch, _prefixBatch) * _concurrency.Max();
        long hugePage = Math.Max(1, LinuxMemory.HugePageBytes);
        using var hugePages = _hugePages ? HugePageReservation.Ensure((bufferBytes + hugePage - 1) / hugePage) : null;

        var dir = Path.Combine(context.DataDirectory, "node");
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        await using var node = await NodeApplication.StartAsync(
        [
            $"--Engine:DataDirectory={dir}",
            $"--Engine:Namespaces:kv:RamBytes={RamBudget}",
            "--Engine:Namespaces:kv:SsdBytes=4GiB",
            "--Engine:Namespaces:files:RamBytes=64MiB",
            "--Engine:Namespaces:files:PageBytes=16MiB",
            "--Engine:Namespaces:files:ChunkBytes=" + (8 * ByteSize.MiB - ByteSize.KiB),
            "--Engine:Namespaces:files:SsdBytes=2GiB",
            "--Engine:CheckpointInterval=01:00:00",
            $"--Node:UnixSocketPath={Path.Combine(dir, "perf.sock")}",
            "--Node:TcpPort=0",
            "--Node:MetricsAddress=",
            "--Logging:LogLevel:Default=Warning",
        ], cancellationToken: cancellationToken);
        var engine = node.Services.GetRequiredService<ICacheEngine>();
        var endpoints = node.Endpoints.ToDictionary(e => e.StartsWith("unix:", StringComparison.Ordinal) ? "uds" : "tcp");
        // "uds" takes the data socket for values (the client's default on a Unix socket); "uds-grpc" is the same socket with gRPC only.
        // "uds-shared" is the same client with values in shared buffers (docs/api.md, "Shared buffers"): the node copies
        // them between its store and the client's memory, and only the call's framing crosses the socket.
        var transports = _skipTcp ? new[] { "uds-shared", "uds", "uds-grpc" } : new[] { "uds-shared", "uds", "uds-grpc", "tcp" };
        var clients = transports.ToDictionary(t => t, t => t == "uds-grpc"
            ? CacheClient.Connect(endpoints["uds"], new CacheClientOptions { UseDataSocket = false })
            : CacheClient.Connect(endpoints[t == "uds-shared" ? "uds" : t]));
        if (_paths.Count > 0) transports = transports.Where(_paths.Contains).ToArray();
        var ns = await clients["uds"].DeclareNamespaceAsync(new NamespaceDescriptor { Model = "perf/rpc", Dtype = "bfloat16", TpSize = 1, TokensPerBlock = 16 }, cancellationToken: cancellationToken);
        var store = engine.GetNamespace("kv");

        await using var socketCopy = await SocketCopyServer.StartAsync(Path.Combine(dir, "copy.sock"));
        try
        {
            foreach (var size in _sizes)
            {
                int length = (int)size.Bytes;
                int keys = Math.Max(Math.Max(_batch, _prefixBatch) * _concurrency.Max(), (int)(_workingSet.Bytes / length));
                var pattern = ValuePattern.NewBuffer(length);
                var buffersPool = new System.Collections.Concurrent.ConcurrentBag<byte[]>();
                // One shared buffer per call in flight, a value's room after another, reused across calls (as an inference server's pinned pool).
                var sharedPool = new System.Collections.Concurrent.ConcurrentBag<SharedBuffer>();
                var sharedAll = new System.Collections.Concurrent.ConcurrentBag<SharedBuffer>();
                SharedBuffer RentShared()
                {
                    if (sharedPool.TryTake(out var b)) return b;
                    b = SharedBuffer.Allocate(length * Math.Max(_batch, _prefixBatch), "perf-rpc", _hugePages);
                    Interlocked.Increment(ref b.HugePages ? ref _hugeBuffers : ref _ordinaryBuffers);
                    sharedAll.Add(b);
                    return b;
                }
                foreach (int concurrency in _concurrency)
                {
                    foreach (var transport in transports)
                    {
                        var client = clients[transport];
                        context.Progress($"{transport} put {size} x{concurrency}");
                        var put = await MeasureAsync(concurrency, keys, _batch, async (ids, ct) =>
                        {
                            if (transport == "uds-shared")
                            {
                                var shared = RentShared();
                                try
                                {
                                    for (int i = 0; i < ids.Length; i++)
                                    {
                                        pattern.CopyTo(shared.Memory.Span.Slice(i * length, length));
                                        ValuePattern.Stamp(shared.Memory.Span.Slice(i * length, length), ids[i]);
                                    }
                                    var rs = await client.BatchPutAsync(ns, ids.Select((id, i) => new KvItem(ValuePattern.Key(id), shared.Memory.Slice(i * length, length))).ToList(), ct);
                                    if (rs.Any(x => !x.Ok)) result.Failures.Add($"{transport} put failed: {rs.First(x => !x.Ok).Message}");
                                    return 0;
                                }
                                finally
                                {
                                    sharedPool.Add(shared);
                                }
                            }
                            var items = ids.Select(id => { var b = pattern.ToArray(); ValuePattern.Stamp(b, id); return new KvItem(ValuePattern.Key(id), b); }).ToList();
                            var r = await client.BatchPutAsync(ns, items, ct);
                            if (r.Any(x => !x.Ok)) result.Failures.Add($"{transport} put failed: {r.First(x => !x.Ok).Message}");
                            return 0;
                        }, cancellationToken);
                        Report(result, transport, "put", size, concurrency, _batch, put.Load, put.RamHits);
                    }

                    // Fresh values at the log tail: every read below is a RAM-tier hit (the RAM hits column checks it).
                    await RewriteAsync(clients["uds"], ns, keys, pattern, cancellationToken);
                    foreach (var transport in transports)
                    {
                        context.Progress($"{transport} get {size} x{concurrency}");
                        var get = await MeasureAsync(concurrency, keys, _batch, (ids, ct) => GetIntoAsync(transport, ids, ct), cancellationToken);
                        Report(result, transport, "get", size, concurrency, _batch, get.Load, get.RamHits);
                    }

                    // Into buffers reused across calls, as an inference server loads into its own (pinned) memory.
                    async Task<int> GetIntoAsync(string transport, long[] ids, CancellationToken ct)
                    {
                        var client = clients[transport];
                        bool useShared = transport == "uds-shared";
                        var shared = useShared ? RentShared() : null;
                        var buffers = useShared ? [] : Enumerable.Range(0, ids.Length).Select(_ => buffersPool.TryTake(out var b) ? b : new byte[length]).ToArray();
                        var targets = shared is not null ? ids.Select((_, i) => shared.Memory.Slice(i * length, length)).ToList() : buffers.Select(b => (Memory<byte>)b).ToList();
                        try
                        {
                            var got = await client.BatchGetIntoAsync(ns, ids.Select(id => (ReadOnlyMemory<byte>)ValuePattern.Key(id)).ToList(), targets, ct);
                            return CheckFilled(transport, ids, got, targets);
                        }
                        finally
                        {
                            foreach (var b in buffers) buffersPool.Add(b);
                            if (shared is not null) sharedPool.Add(shared);
                        }
                    }

                    // Every value checked, and the RAM hits counted.
                    int CheckFilled(string transport, long[] ids, IReadOnlyList<FillResult> got, List<Memory<byte>> targets)
                    {
                        int ram = 0;
                        for (int i = 0; i < got.Count; i++)
                        {
                            if (!got[i].Hit || got[i].Length != length || !ValuePattern.Verify(targets[i].Span, ids[i], length)) result.Failures.Add($"{transport} get of {ids[i]} returned wrong bytes or a miss ({got[i].Message})");
                            if (got[i].Tier == CheckpointCache.Rpc.Kv.V1.Tier.Ram) ram++;
                        }
                        return ram;
                    }

                    // The synchronous call on a caller's own thread (the prefix phases).
                    int GetIntoOnCallerThread(long[] ids)
                    {
                        var client = clients["uds-shared"];
                        var shared = RentShared();
                        var targets = ids.Select((_, i) => shared.Memory.Slice(i * length, length)).ToList();
                        try
                        {
                            var got = client.BatchGetInto(ns, ids.Select(id => (ReadOnlyMemory<byte>)ValuePattern.Key(id)).ToList(), targets, cancellationToken);
                            return CheckFilled("uds-shared", ids, got, targets);
                        }
                        finally
                        {
                            sharedPool.Add(shared);
                        }
                    }

                    if (_paths.Count == 0 || _paths.Contains("uds-new-arrays"))
                    {
                        // The same over the data socket, each value in a new array (BatchGetAsync): what allocation costs.
                        context.Progress($"uds get (new arrays) {size} x{concurrency}");
                        var allocating = await MeasureAsync(concurrency, keys, _batch, async (ids, ct) =>
                        {
                            var got = await clients["uds"].BatchGetAsync(ns, ids.Select(id => (ReadOnlyMemory<byte>)ValuePattern.Key(id)).ToList(), ct);
                            int ram = 0;
                            for (int i = 0; i < got.Count; i++)
                            {
                                if (!got[i].Hit || !ValuePattern.Verify(got[i].Value, ids[i], length)) result.Failures.Add($"uds get of {ids[i]} returned wrong bytes or a miss ({got[i].Message})");
                                if (got[i].Tier == CheckpointCache.Rpc.Kv.V1.Tier.Ram) ram++;
                            }
                            return ram;
                        }, cancellationToken);
                        Report(result, "uds-new-arrays", "get", size, concurrency, _batch, allocating.Load, allocating.RamHits);
                    }
                    buffersPool.Clear();

                    context.Progress($"in-process get {size} x{concurrency}");
                    var inProcess = await MeasureAsync(concurrency, keys, _batch, InProcessGetAsync, cancellationToken);
                    Report(result, "in-process", "get", size, concurrency, _batch, inProcess.Load, inProcess.RamHits);

                    // The same engine reads into the same shared-buffer places the uds-shared path fills, and the values are
                    // checked once the whole call has them, as GetIntoAsync checks them once the node answered: equal memory
                    // and equal order on both sides, so that the ratio between them is the transport's cost and not where
                    // the bytes land or which of them are still in the CPU's caches when they are checked.
                    async Task<int> InProcessIntoAsync(long[] ids, CancellationToken ct)
                    {
                        var shared = RentShared();
                        try
                        {
                            var got = new ReadIntoResult[ids.Length];
                            for (int i = 0; i < ids.Length; i++)
                                got[i] = await store.ReadIntoAsync(NodeKey(ns, ValuePattern.Key(ids[i])), shared.Memory.Slice(i * length, length), ct);
                            int ram = 0;
                            for (int i = 0; i < ids.Length; i++)
                            {
                                if (got[i].Outcome != ReadIntoOutcome.Hit || got[i].Length != length || !ValuePattern.Verify(shared.Memory.Span.Slice(i * length, length), ids[i], length))
                                    result.Failures.Add($"in-process read into a place of {ids[i]} returned wrong bytes or a miss");
                                else if (got[i].Tier == CheckpointCache.Engine.Tier.Ram) ram++;
                            }
                            return ram;
                        }
                        finally
                        {
                            sharedPool.Add(shared);
                        }
                    }

                    if (transports.Contains("uds-shared"))
                    {
                        context.Progress($"in-process get into shared places {size} x{concurrency}");
                        var into = await MeasureAsync(concurrency, keys, _batch, InProcessIntoAsync, cancellationToken);
                        Report(result, "in-process-into", "get", size, concurrency, _batch, into.Load, into.RamHits);
                    }

                    async Task<int> InProcessGetAsync(long[] ids, CancellationToken ct)
                    {
                        int ram = 0;
                        foreach (var id in ids)
                        {
                            using var value = await store.GetAsync(NodeKey(ns, ValuePattern.Key(id)), ct);
                            if (value is null || !ValuePattern.Verify(value.Span, id, length)) result.Failures.Add($"in-process get of {id} returned wrong bytes or a miss");
                            else if (value.Tier == CheckpointCache.Engine.Tier.Ram) ram++;
                        }
                        return ram;
                    }

                    if (concurrency == 4 && length == OneMiB && _prefixBatch > 1 && transports.Contains("uds-shared"))
                    {
                        // A prefix load: an inference server asks for a request's blocks in one call (a 4k-token
                        // prefix of an 8B model is 512 blocks of 1 MiB), so the per-call cost is shared by many values.
                        context.Progress($"uds-shared and in-process get {size} x{concurrency}, {_prefixBatch} values per call, {_prefixRounds} alternating rounds");
                        // Callers on threads of their own, as an inference server's loader threads: the client's
                        // synchronous BatchGetInto, and the engine's reads (RAM hits, which complete at once) waited on.
                        var prefix = await MeasureAlternatingAsync(concurrency, keys, _prefixBatch,
                            [ids => GetIntoOnCallerThread(ids), ids => InProcessGetAsync(ids, cancellationToken).GetAwaiter().GetResult(),
                             ids => InProcessIntoAsync(ids, cancellationToken).GetAwaiter().GetResult()], cancellationToken);
                        Report(result, "uds-shared", "get", size, concurrency, _prefixBatch, prefix[0].Load, prefix[0].RamHits);
                        Report(result, "in-process", "get", size, concurrency, _prefixBatch, prefix[1].Load, prefix[1].RamHits);
                        Report(result, "in-process-into", "get", size, concurrency, _prefixBatch, prefix[2].Load, prefix[2].RamHits);
                    }

                    foreach (var transport in transports)
                    {
                        if (transport is "uds-grpc" or "uds-shared") continue;
                        context.Progress($"socket copy ({transport}) {size} x{concurrency}");
                        var copy = await socketCopy.MeasureAsync(transport, concurrency, length * _batch, _duration, cancellationToken);
                        Report(result, "socket-copy-" + transport, "get", size, concurrency, _batch, copy, null);
                    }
                }
                // Closing the shared client's idle connections lets the node unmap them too.
                foreach (var b in sharedAll) b.Dispose();
            }
        }
        finally
        {
            foreach (var c in clients.Values) c.Dispose();
        }

        double Mbs(string path, int batch) => result.Rows.FirstOrDefault(r => (string)r["path"]! == path && (string)r["op"]! == "get"
            && (long)r["size_bytes"]! == OneMiB && (int)r["concurrency"]! == 4 && (int)r["batch"]! == batch)?["mb_s"] is double d ? d : double.NaN;
        if (_sizes.Any(s => s.Bytes == OneMiB) && _concurrency.Contains(4))
        {
            // The client's best path over the Unix socket: values in shared buffers, the socket carrying only the calls.
            // Taken where the per-call cost is shared as in a prefix load (--prefix-batch values per call); the same at
            // --batch values per call is kept beside it, because there the call's round trip is most of the cost.
            // The in-process reference reads into the same places (in-process-into), so the ratio is the transport's cost;
            // against GetAsync into the engine's pooled buffers (in-process), which stay hot in the CPU's caches, it is kept too.
            int batch = _prefixBatch > 1 && Mbs("uds-shared", _prefixBatch) is > 0 ? _prefixBatch : _batch;
            result.Ratios["uds_get_vs_inprocess"] = Mbs("uds-shared", batch) / Mbs("in-process-into", batch);
            result.Ratios[$"uds_get_vs_inprocess_batch{_batch}"] = Mbs("uds-shared", _batch) / Mbs("in-process-into", _batch);
            result.Ratios["uds_get_vs_inprocess_pooled"] = Mbs("uds-shared", batch) / Mbs("in-process", batch);
            result.Ratios[$"uds_get_vs_inprocess_pooled_batch{_batch}"] = Mbs("uds-shared", _batch) / Mbs("in-process", _batch);
            result.Ratios["uds_shared_get_vs_socket_copy"] = Mbs("uds-shared", _batch) / Mbs("socket-copy-uds", _batch);
            // Values through the socket itself (caller memory that is not shared).
            result.Ratios["uds_socket_get_vs_inprocess"] = Mbs("uds", _batch) / Mbs("in-process", _batch);
            result.Ratios["uds_get_vs_socket_copy"] = Mbs("uds", _batch) / Mbs("socket-copy-uds", _batch);
            result.Ratios["uds_grpc_get_vs_inprocess"] = Mbs("uds-grpc", _batch) / Mbs("in-process", _batch);
            result.Ratios["uds_get_vs_uds_grpc"] = Mbs("uds", _batch) / Mbs("uds-grpc", _batch);
            if (!_skipTcp)
            {
                result.Ratios["tcp_get_vs_inprocess"] = Mbs("tcp", _batch) / Mbs("in-process", _batch);
                result.Ratios["tcp_get_vs_socket_copy"] = Mbs("tcp", _batch) / Mbs("socket-copy-tcp", _batch);
            }
            if (batch != _batch)
                result.Notes.Add($"uds_get_vs_inprocess is taken at {batch} values of 1 MiB per call (a prefix load), its three phases taking turns {_prefixRounds} times (each round starting with the next) " +
                                 $"for {_duration.TotalSeconds:F0} s each, called from 4 threads of their own (the client's synchronous BatchGetInto); uds_get_vs_inprocess_batch{_batch} at {_batch} per call, like the other ratios");
        }
        result.Notes.Add($"shared buffers (uds-shared, in-process-into): {_hugeBuffers} in huge pages, {_ordinaryBuffers} in ordinary pages" +
                         (hugePages is null ? " (--huge-pages off)" : $"; {hugePages.Description}"));
        return result;
    }

    private const long OneMiB = ByteSize.MiB;

    /// <summary>RAM tier of the node's kv store: the working set of one size fits with room to spare.</summary>
    private ByteSize RamBudget => new(Math.Max(ByteSize.GiB, 4 * _workingSet.Bytes));

    private async Task RewriteAsync(CacheClient client, KvNamespace ns, int keys, byte[] pattern, CancellationToken ct)
    {
        for (int id = 0; id < keys; id++)
        {
            var b = pattern.ToArray();
            ValuePattern.Stamp(b, id);
            await client.BatchPutAsync(ns, [new KvItem(ValuePattern.Key(id), b)], ct);
        }
    }

    /// <summary>The engine key the node uses for a client key: the 16-byte namespace id in front.</summary>
    private static byte[] NodeKey(KvNamespace ns, byte[] key) => [.. ns.Id, .. key];

    private sealed record Measured(LoadResult Load, long RamHits);

    /// <summary>Workers take consecutive batches of ids round the working set; the operation returns its RAM-tier hits.</summary>
    private async Task<Measured> MeasureAsync(int concurrency, int keys, int batch, Func<long[], CancellationToken, Task<int>> operation, CancellationToken ct)
    {
        long next = 0, ram = 0;
        var load = await Load.RunAsync(concurrency, _duration, async worker =>
        {
            long first = Interlocked.Add(ref next, batch) - batch;
            var ids = Enumerable.Range(0, batch).Select(i => (first + i) % keys).ToArray();
            Interlocked.Add(ref ram, await operation(ids, ct));
            return true;
        }, cancellationToken: ct);
        return new Measured(load, ram);
    }

    /// <summary>
    /// Runs the operations in turn, --prefix-rounds times, and sums each one's rounds. The host's load drifts over
    /// seconds (the same in-process phase measured 19.9 to 25.9 GB/s within minutes), so phases compared in a ratio
    /// take turns rather than running once each, one after the other.
    /// </summary>
    private async Task<Measured[]> MeasureAlternatingAsync(int concurrency, int keys, int batch,
        IReadOnlyList<Func<long[], int>> operations, CancellationToken ct)
    {
        var latencies = operations.Select(_ => new LatencyRecorder(concurrency)).ToArray();
        var operationsDone = new long[operations.Count];
        var elapsed = new TimeSpan[operations.Count];
        var ram = new long[operations.Count];
        for (int round = 0; round < _prefixRounds; round++)
        {
            // Each round starts with the next operation, so none always runs first (after the fill, or after another).
            for (int turn = 0; turn < operations.Count; turn++)
            {
                int i = (round + turn) % operations.Count;
                long next = 0, hits = 0;
                var operation = operations[i];
                var load = await Load.RunOnThreadsAsync(concurrency, _duration, _ =>
                {
                    long first = Interlocked.Add(ref next, batch) - batch;
                    Interlocked.Add(ref hits, operation(Enumerable.Range(0, batch).Select(k => (first + k) % keys).ToArray()));
                    return true;
                }, latencies[i], ct);
                operationsDone[i] += load.Operations;
                elapsed[i] += load.Elapsed;
                ram[i] += hits;
            }
        }
        return operations.Select((_, i) => new Measured(new LoadResult(operationsDone[i], elapsed[i], latencies[i].Summarize()), ram[i])).ToArray();
    }

    private void Report(ScenarioResult result, string path, string op, ByteSize size, int concurrency, int batch, LoadResult load, long? ramHits)
    {
        var row = result.AddRow();
        row["path"] = path;
        row["op"] = op;
        row["size"] = size.ToString();
        row["size_bytes"] = size.Bytes;
        row["concurrency"] = concurrency;
        row["batch"] = batch;
        double seconds = load.Elapsed.TotalSeconds;
        row["mb_s"] = load.Operations * batch * (double)size.Bytes / 1e6 / seconds;
        row["calls_s"] = load.Operations / seconds;
        row["p50_ms"] = load.Latency.P50Ms;
        row["p99_ms"] = load.Latency.P99Ms;
        if (op == "get" && ramHits is { } hits)
            row["ram_share"] = load.Operations == 0 ? 0 : hits / (double)(load.Operations * batch);
    }

    /// <summary>
    /// The transport's ceiling: a server that answers an 8-byte length with that many bytes, over a Unix
    /// socket or loopback TCP, one connection per worker. No framing, no serialisation, no engine.
    /// </summary>
    private sealed class SocketCopyServer : IAsyncDisposable
    {
        private readonly Socket _unix, _tcp;
        private readonly string _path;
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Task> _loops = [];
        private byte[] _payload = [];

        private SocketCopyServer(Socket unix, Socket tcp, string path)
        {
            _unix = unix;
            _tcp = tcp;
            _path = path;
        }

        public static Task<SocketCopyServer> StartAsync(string path)
        {
            if (File.Exists(path)) File.Delete(path);
            var unix = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            unix.Bind(new UnixDomainSocketEndPoint(path));
            unix.Listen(64);
            var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            tcp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            tcp.Listen(64);
            var server = new SocketCopyServer(unix, tcp, path);
            server._loops.Add(server.AcceptAsync(unix));
            server._loops.Add(server.AcceptAsync(tcp));
            return Task.FromResult(server);
        }

        private async Task AcceptAsync(Socket listener)
        {
            try
            {
                while (true)
                {
                    var connection = await listener.AcceptAsync(_stop.Token);
                    _ = ServeAsync(connection);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        private async Task ServeAsync(Socket connection)
        {
            using var _ = connection;
            var header = new byte[8];
            try
            {
                while (true)
                {
                    if (!await ReadExactlyAsync(connection, header)) return;
                    int length = (int)BinaryPrimitives.ReadInt64LittleEndian(header);
                    await connection.SendAsync(_payload.AsMemory(0, length), SocketFlags.None, _stop.Token);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        private static async Task<bool> ReadExactlyAsync(Socket socket, Memory<byte> buffer)
        {
            int read = 0;
            while (read < buffer.Length)
            {
                int n = await socket.ReceiveAsync(buffer[read..], SocketFlags.None);
                if (n == 0) return false;
                read += n;
            }
            return true;
        }

        public async Task<LoadResult> MeasureAsync(string transport, int concurrency, int length, TimeSpan duration, CancellationToken ct)
        {
            if (_payload.Length < length) _payload = ValuePattern.NewBuffer(length);
            var sockets = new Socket[concurrency];
            var buffers = new byte[concurrency][];
            for (int i = 0; i < concurrency; i++)
            {
                sockets[i] = transport == "uds"
                    ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
                    : new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await sockets[i].ConnectAsync(transport == "uds" ? new UnixDomainSocketEndPoint(_path) : _tcp.LocalEndPoint!, ct);
                buffers[i] = new byte[length];
            }
            try
            {
                return await Load.RunAsync(concurrency, duration, async worker =>
                {
                    var request = new byte[8];
                    BinaryPrimitives.WriteInt64LittleEndian(request, length);
                    await sockets[worker].SendAsync(request, SocketFlags.None, ct);
                    // Like a client, the bytes land in a buffer of their own.
                    if (!await ReadExactlyAsync(sockets[worker], buffers[worker])) throw new IOException("copy server closed the connection");
                    return true;
                }, cancellationToken: ct);
            }
            finally
            {
                foreach (var s in sockets) s.Dispose();
            }
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _unix.Dispose();
            _tcp.Dispose();
            await Task.WhenAll(_loops);
            if (File.Exists(_path)) File.Delete(_path);
        }
    }
}
