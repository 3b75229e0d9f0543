using System.Diagnostics;
using System.Text;
using System.Text.Json;
using CheckpointCache.Client;
using CheckpointCache.Engine.Options;
using CheckpointCache.Perf.Framework;
using CheckpointCache.Rpc.Kv.V1;
using Grpc.Core;

namespace CheckpointCache.Perf.Scenarios;

/// <summary>
/// BatchGet of 1 MiB blocks over the node's Unix socket: the Python client (perf/python/bench_get.py
/// under /usr/bin/python3) against the .NET client, on the same data in the same run. The node runs as
/// its own process (the built rpc/CheckpointCache.Node); the .NET client runs in this process, the
/// Python client in a child process. The blocks fit the RAM tier, so this measures the client and
/// transport path, not the disk. Runs alternate (.NET, Python into caller buffers, Python with client
/// buffers) so machine drift hits all of them; the ratios use the medians.
/// </summary>
public sealed class PythonScenario : IScenario
{
    private int _blocks, _batch, _rounds, _warmup, _repeats;
    private ByteSize _blockBytes, _frameBytes, _ram;
    private string _python = "", _nodePath = "";
    private bool _skipVerify;

    public string Name => "python";

    public string Summary => "BatchGet of 1 MiB blocks over the Unix socket: Python client vs .NET client against one node";

    public string Options => """
        --blocks N            blocks written once and read every round (default 256)
        --block-bytes SIZE    block size (default 1MiB)
        --batch N             keys per BatchGet call (default 32)
        --rounds N            timed passes over all blocks per run (default 8); --warmup N untimed passes (default 2)
        --repeats N           alternating .NET / Python runs (default 3)
        --frame SIZE          frame size asked of BatchGet by both clients (default 1MiB)
        --ram SIZE            RAM tier of the node's kv store (default 1GiB; must hold all blocks)
        --python PATH         interpreter (default /usr/bin/python3: Debian's python3-grpcio)
        --node PATH           checkpointcache.dll or executable (default: the build under rpc/CheckpointCache.Node/bin)
        --skip-verify         skip the untimed byte-for-byte check of every block by both clients
        """;

    public void Configure(ScenarioArgs args)
    {
        _blocks = args.Int("blocks", 256);
        _blockBytes = args.Size("block-bytes", ByteSize.FromMiB(1));
        _batch = args.Int("batch", 32);
        _rounds = args.Int("rounds", 8);
        _warmup = args.Int("warmup", 2);
        _repeats = args.Int("repeats", 3);
        _frameBytes = args.Size("frame", ByteSize.FromMiB(1));
        _ram = args.Size("ram", ByteSize.FromGiB(1));
        _python = args.String("python", "/usr/bin/python3");
        _nodePath = args.String("node", "");
        _skipVerify = args.Flag("skip-verify");
        if (_blocks < 1 || _batch < 1 || _rounds < 1 || _repeats < 1 || _warmup < 0)
            throw new ArgumentException("--blocks, --batch, --rounds and --repeats must be at least 1, --warmup at least 0");
        if (_blockBytes.Bytes < 1 || _blockBytes.Bytes > 64 * ByteSize.MiB) throw new ArgumentException("--block-bytes must be between 1 byte and 64MiB");
        if ((long)_blocks * _blockBytes.Bytes > _ram.Bytes * 3 / 4)
            throw new ArgumentException($"{_blocks} x {_blockBytes} does not fit comfortably in --ram {_ram}: this scenario measures the RAM-tier path");
    }

    public async Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken ct)
    {
        var result = new ScenarioResult()
            .Column("client", "client")
            .Column("run", "run")
            .Column("gbps", "GB/s")
            .Column("p50_ms", "p50 ms / call")
            .Column("p99_ms", "p99 ms / call")
            .Column("calls", "calls")
            .Column("gib", "GiB read");
        string script = Path.Combine(RepoPaths.Root, "perf", "python", "bench_get.py");
        if (!File.Exists(script)) throw new ArgumentException($"{script} is missing");
        if (!File.Exists(_python)) throw new ArgumentException($"--python {_python} does not exist (apt-get install python3-grpcio python3-protobuf python3-numpy libxxhash0)");

        await using var node = await NodeChild.StartAsync(context, _nodePath, _ram, ct);
        var client = CacheClient.Connect(node.Endpoint, new CacheClientOptions { FrameBytes = (int)_frameBytes.Bytes, CallTimeout = TimeSpan.FromMinutes(2) });
        var ns = await client.DeclareNamespaceAsync(new NamespaceDescriptor { Model = "perf-python", TokensPerBlock = 16 }, cancellationToken: ct);
        var keys = Enumerable.Range(0, _blocks).Select(i => (ReadOnlyMemory<byte>)Key(i)).ToArray();

        context.Progress($"writing {_blocks} blocks of {_blockBytes} with the .NET client");
        int blockBytes = (int)_blockBytes.Bytes;
        for (int s = 0; s < _blocks; s += _batch)
        {
            var items = Enumerable.Range(s, Math.Min(_batch, _blocks - s)).Select(i => new KvItem(Key(i), Block(i, blockBytes))).ToList();
            var put = await client.BatchPutAsync(ns, items, ct);
            foreach (var r in put)
                if (r.Code != StatusCode.OK) throw new InvalidOperationException($"BatchPut refused item {s + r.Index}: {r.Code} {r.Message}");
        }

        if (!_skipVerify)
        {
            context.Progress("verifying every block with both clients (untimed)");
            long wrong = 0;
            for (int s = 0; s < _blocks; s += _batch)
            {
                var got = await client.BatchGetAsync(ns, keys[s..Math.Min(_blocks, s + _batch)], ct);
                foreach (var r in got)
                    if (r.Value is null || !r.Value.AsSpan().SequenceEqual(Block(s + r.Index, blockBytes))) wrong++;
            }
            if (wrong > 0) result.Failures.Add($".NET client read {wrong} blocks with wrong bytes or missing");
            var verify = await RunPythonAsync(context, script, node.Endpoint, "into", rounds: 1, warmup: 0, verify: true, ct);
            if (verify.ExitCode != 0) result.Failures.Add($"Python client verification failed (exit {verify.ExitCode}): {verify.Stderr.Trim()}");
        }

        var dotnet = new List<double>();
        var dotnetShared = new List<double>();
        var pyInto = new List<double>();
        var pyAlloc = new List<double>();
        var pyShared = new List<double>();
        const string DotnetSharedName = ".NET (BatchGetIntoAsync into shared buffers)", PythonSharedName = "Python (batch_get into shared buffers)";
        for (int run = 1; run <= _repeats; run++)
        {
            context.Progress($"run {run}/{_repeats}: .NET client");
            var d = await RunDotnetAsync(client, ns, keys, shared: false, ct);
            dotnet.Add(d.Gbps);
            AddRow(result, ".NET (CacheClient.BatchGetIntoAsync)", run, d.Gbps, d.Latency.P50Ms, d.Latency.P99Ms, d.Latency.Count, d.Bytes);
            context.Progress($"run {run}/{_repeats}: .NET client, shared buffers");
            var ds = await RunDotnetAsync(client, ns, keys, shared: true, ct);
            dotnetShared.Add(ds.Gbps);
            AddRow(result, DotnetSharedName, run, ds.Gbps, ds.Latency.P50Ms, ds.Latency.P99Ms, ds.Latency.Count, ds.Bytes);

            foreach (var mode in new[] { "into", "alloc", "shared" })
            {
                context.Progress($"run {run}/{_repeats}: Python client, {mode}");
                var py = await RunPythonAsync(context, script, node.Endpoint, mode, _rounds, _warmup, verify: false, ct);
                if (py.ExitCode != 0 || py.Json is null)
                {
                    result.Failures.Add($"Python run {run} ({mode}) failed (exit {py.ExitCode}): {py.Stderr.Trim()}");
                    continue;
                }
                var j = py.Json.Value;
                double gbps = j.GetProperty("gbps").GetDouble();
                (mode switch { "into" => pyInto, "alloc" => pyAlloc, _ => pyShared }).Add(gbps);
                AddRow(result, mode switch { "into" => "Python (batch_get into numpy buffers)", "alloc" => "Python (batch_get, client buffers)", _ => PythonSharedName }, run, gbps,
                    j.GetProperty("p50_ms").GetDouble(), j.GetProperty("p99_ms").GetDouble(), j.GetProperty("calls").GetInt64(), j.GetProperty("bytes").GetInt64());
            }
        }

        double dMed = Median(dotnet);
        AddMedian(result, ".NET (CacheClient.BatchGetIntoAsync)", dMed);
        if (pyInto.Count > 0)
        {
            double m = Median(pyInto);
            AddMedian(result, "Python (batch_get into numpy buffers)", m);
            result.Ratios["python_get_vs_dotnet_get"] = dMed > 0 ? m / dMed : 0;
        }
        if (pyAlloc.Count > 0)
        {
            double m = Median(pyAlloc);
            AddMedian(result, "Python (batch_get, client buffers)", m);
            result.Ratios["python_alloc_get_vs_dotnet_get"] = dMed > 0 ? m / dMed : 0;
        }
        double dsMed = Median(dotnetShared);
        AddMedian(result, DotnetSharedName, dsMed);
        if (pyShared.Count > 0)
        {
            double m = Median(pyShared);
            AddMedian(result, PythonSharedName, m);
            result.Ratios["python_shared_get_vs_dotnet_shared_get"] = dsMed > 0 ? m / dsMed : 0;
            result.Ratios["python_shared_get_vs_dotnet_get"] = dMed > 0 ? m / dMed : 0;
        }
        result.Notes.Add($"{_blocks} blocks of {_blockBytes}, {_batch} keys per BatchGet, frames of {_frameBytes}, {_rounds} timed rounds after {_warmup} warm-up rounds per run, {_repeats} alternating runs; GB/s = 1e9 value bytes per second; ratios use medians");
        result.Notes.Add("python_get_vs_dotnet_get uses the Python client writing into caller-provided numpy buffers (the inference-server path); the .NET client allocates a new array per value");
        result.Notes.Add($"node in its own process over unix:{node.SocketPath}, kv RAM tier {_ram} (all blocks in RAM); .NET client in the perf process; Python client: {_python} {Path.GetRelativePath(RepoPaths.Root, script)}");
        result.Notes.Add($"{Environment.ProcessorCount} CPU cores shared by the node and the client under test");
        return result;
    }

    private static void AddRow(ScenarioResult result, string client, int run, double gbps, double p50, double p99, long calls, long bytes)
    {
        var row = result.AddRow();
        row["client"] = client;
        row["run"] = run.ToString();
        row["gbps"] = Math.Round(gbps, 3);
        row["p50_ms"] = Math.Round(p50, 2);
        row["p99_ms"] = Math.Round(p99, 2);
        row["calls"] = calls;
        row["gib"] = Math.Round(bytes / (double)ByteSize.GiB, 2);
    }

    private static void AddMedian(ScenarioResult result, string client, double gbps)
    {
        var row = result.AddRow();
        row["client"] = client;
        row["run"] = "median";
        row["gbps"] = Math.Round(gbps, 3);
    }

    private sealed record DotnetRun(double Gbps, long Bytes, LatencySummary Latency);

    private async Task<DotnetRun> RunDotnetAsync(CacheClient client, KvNamespace ns, ReadOnlyMemory<byte>[] keys, bool shared, CancellationToken ct)
    {
        var latency = new LatencyRecorder(1);
        long bytes = 0;
        var sw = new Stopwatch();
        // Reused destination buffers, as the Python client's "into" mode fills its numpy buffers; or rows of one
        // shared buffer, which the node writes into directly (docs/api.md, "Shared buffers").
        int blockBytes = (int)_blockBytes.Bytes;
        using var sharedBuffer = shared ? CacheClient.AllocateSharedBuffer(checked(_batch * blockBytes), "perf-python") : null;
        var destinations = Enumerable.Range(0, _batch)
            .Select(i => sharedBuffer is null ? (Memory<byte>)new byte[blockBytes] : sharedBuffer.Memory.Slice(i * blockBytes, blockBytes)).ToArray();
        for (int round = 0; round < _warmup + _rounds; round++)
        {
            bool timed = round >= _warmup;
            if (round == _warmup) sw.Start();
            for (int s = 0; s < _blocks; s += _batch)
            {
                long started = Stopwatch.GetTimestamp();
                var part = keys[s..Math.Min(_blocks, s + _batch)];
                var got = await client.BatchGetIntoAsync(ns, part, destinations[..part.Length], ct);
                if (!timed) continue;
                latency.Record(0, started);
                foreach (var r in got)
                {
                    if (!r.Hit) throw new InvalidOperationException($"block {s + r.Index}: {r.Code} {r.Message}");
                    bytes += r.Length;
                }
            }
        }
        sw.Stop();
        return new DotnetRun(bytes / sw.Elapsed.TotalSeconds / 1e9, bytes, latency.Summarize());
    }

    private sealed record PythonRun(int ExitCode, JsonElement? Json, string Stderr);

    private async Task<PythonRun> RunPythonAsync(ScenarioContext context, string script, string endpoint, string mode, int rounds, int warmup, bool verify, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(_python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = RepoPaths.Root,
        };
        foreach (var a in new[] { script, "--target", endpoint, "--blocks", _blocks.ToString(), "--block-bytes", _blockBytes.Bytes.ToString(),
                                  "--batch", _batch.ToString(), "--rounds", rounds.ToString(), "--warmup-rounds", warmup.ToString(),
                                  "--frame-bytes", _frameBytes.Bytes.ToString(), "--mode", mode })
            psi.ArgumentList.Add(a);
        if (verify) psi.ArgumentList.Add("--verify");
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {_python}");
        var stdout = p.StandardOutput.ReadToEndAsync(ct);
        var stderr = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        string output = await stdout, errors = await stderr;
        if (errors.Length > 0) context.Progress("python: " + errors.Trim());
        var last = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
        JsonElement? json = null;
        if (last is not null && last.StartsWith('{'))
        {
            using var doc = JsonDocument.Parse(last);
            json = doc.RootElement.Clone();
        }
        return new PythonRun(p.ExitCode, json, errors);
    }

    private static double Median(List<double> values)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>Key i, the same bytes bench_get.py uses: ASCII "perf-%08d".</summary>
    private static byte[] Key(int i) => Encoding.ASCII.GetBytes($"perf-{i:D8}");

    /// <summary>Block i, the same bytes bench_get.py checks: byte j is (i * 31 + j) mod 256.</summary>
    private static byte[] Block(int i, int length)
    {
        var b = new byte[length];
        for (int j = 0; j < length; j++) b[j] = (byte)(i * 31 + j);
        return b;
    }

    /// <summary>The built node as a child process with its own data folder and Unix socket.</summary>
    private sealed class NodeChild : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly string _directory;

        private NodeChild(Process process, string directory, string socketPath)
        {
            _process = process;
            _directory = directory;
            SocketPath = socketPath;
        }

        public string SocketPath { get; }
        public string Endpoint => "unix:" + SocketPath;

        public static async Task<NodeChild> StartAsync(ScenarioContext context, string nodePath, ByteSize ram, CancellationToken ct)
        {
            var command = FindNode(nodePath);
            string directory = Path.Combine(context.DataDirectory, "node");
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
            Directory.CreateDirectory(directory);
            string socketPath = Path.Combine(directory, "node.sock");
            if (socketPath.Length > 100) socketPath = Path.Combine(Path.GetTempPath(), $"ccperf-{Environment.ProcessId}.sock");
            var psi = new ProcessStartInfo(command[0])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = directory,
            };
            foreach (var a in command.Skip(1)) psi.ArgumentList.Add(a);
            foreach (var a in new[]
            {
                "serve",
                "--Node:UnixSocketPath=" + socketPath,
                "--Node:TcpPort=0",
                "--Node:MetricsPort=0",
                "--Engine:DataDirectory=" + Path.Combine(directory, "data"),
                "--Engine:Namespaces:kv:Kind=Kv",
                "--Engine:Namespaces:kv:RamBytes=" + ram,
                "--Engine:Namespaces:kv:SsdBytes=" + new ByteSize(2 * ram.Bytes + ByteSize.GiB),
                "--Logging:LogLevel:Default=Warning",
            }) psi.ArgumentList.Add(a);
            context.Progress($"starting node: {command[^1]} (data in {directory})");
            var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start the node");
            _ = Pump(process.StandardOutput, context);
            _ = Pump(process.StandardError, context);
            var node = new NodeChild(process, directory, socketPath);
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
            Exception? last = null;
            while (DateTime.UtcNow < deadline)
            {
                ct.ThrowIfCancellationRequested();
                if (process.HasExited) throw new InvalidOperationException($"the node exited with {process.ExitCode} during start");
                if (File.Exists(socketPath))
                {
                    try
                    {
                        var probe = CacheClient.Connect(node.Endpoint, new CacheClientOptions { CallTimeout = TimeSpan.FromSeconds(2) });
                        await probe.GetInfoAsync(ct);
                        return node;
                    }
                    catch (RpcException e)
                    {
                        last = e;
                    }
                }
                await Task.Delay(100, ct);
            }
            await node.DisposeAsync();
            throw new InvalidOperationException($"the node did not answer within 2 minutes: {last?.Message}");
        }

        private static async Task Pump(StreamReader reader, ScenarioContext context)
        {
            string? line;
            while ((line = await reader.ReadLineAsync()) is not null) context.Progress("node: " + line);
        }

        private static string[] FindNode(string nodePath)
        {
            var candidates = nodePath.Length > 0 ? [nodePath] : new[] { "Release", "Debug" }
                .Select(c => Path.Combine(RepoPaths.Root, "rpc", "CheckpointCache.Node", "bin", c, "net10.0", "checkpointcache.dll")).ToArray();
            foreach (var c in candidates)
            {
                if (!File.Exists(c)) continue;
                return c.EndsWith(".dll", StringComparison.Ordinal) ? ["dotnet", c] : [c];
            }
            throw new ArgumentException($"node not built (looked for {string.Join(", ", candidates)}): dotnet build -c Release rpc/CheckpointCache.Node, or pass --node");
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }
            _process.Dispose();
            try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
        }
    }
}
