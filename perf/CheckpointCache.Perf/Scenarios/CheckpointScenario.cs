using System.Diagnostics;
using CheckpointCache.Client.Files;
using CheckpointCache.Client.SharedMemory;
using CheckpointCache.Engine.Options;
using CheckpointCache.Perf.Framework;
using CheckpointCache.Perf.Scenarios.Checkpoint;
using CheckpointCache.Rpc.Files.V1;

namespace CheckpointCache.Perf.Scenarios;

/// <summary>
/// A synthetic checkpoint (by default 8 files of 512 MiB, written as torch.save writes them, all
/// files at once as 8 ranks on one node would) three ways in one run: through the FUSE mount,
/// through the gRPC files API, and straight to a local folder on the same disk. Every way ends each
/// file durably (fsync then close locally; close through the mount, which returns after the node's
/// commit; Close with commit over gRPC), so the three are compared at the same guarantee. Then each
/// is read back sequentially with the page cache dropped, every 4 KiB checked. Write and read
/// phases alternate between the ways round by round, so a disk whose speed drifts biases none.
/// </summary>
public sealed class CheckpointScenario : IScenario
{
    private int _files, _rounds, _threads, _readBuffer, _frameBytes;
    private ByteSize _fileBytes, _ram, _warmupBytes;
    private bool _keep;
    private string[] _ways = [];
    private string _hugePages = "auto";

    public string Name => "checkpoint";

    public string Summary => "a torch.save-like checkpoint through the FUSE mount, the gRPC files API and a local folder, written then read back";

    public string Options => """
        --files N             files in the checkpoint, written concurrently (default 8)
        --file-size SIZE      size of each file (default 512MiB)
        --rounds N            rounds; each writes and reads every way once (default 1)
        --ram SIZE            RAM tier of the node's files store (default 1GiB; below the checkpoint so reads come from SSD)
        --threads N           FUSE worker threads of the mount (default 8)
        --read-buffer SIZE    read() size of the readers (default 4MiB)
        --frame SIZE          data per gRPC frame of the gRPC way (default 1MiB)
        --ways LIST           ways to run, of local,mount,grpc (default all three; ratios need local)
        --warmup SIZE         before the measured rounds, an unmeasured round of files of this size through every way
                              (default 64MiB; 0 skips it): the node and the mount are fresh processes, and a cold
                              process spends its first seconds compiling its hot paths (a quarter of the CPU during
                              the mount's writes), which a mount that has run for a while does not
        --huge-pages MODE     auto (default): make sure the pool of huge pages (vm.nr_hugepages) has room for the
                              mount's shared buffers, as docs/operations.md asks of an operator, raising it for the
                              run when root; off: the mount takes ordinary pages (--Mount:HugePages=false)
        --keep                keep the data folder
        """;

    public void Configure(ScenarioArgs args)
    {
        _files = args.Int("files", 8);
        _fileBytes = args.Size("file-size", ByteSize.FromMiB(512));
        _rounds = args.Int("rounds", 1);
        _ram = args.Size("ram", ByteSize.FromGiB(1));
        _threads = args.Int("threads", 8);
        _readBuffer = (int)args.Size("read-buffer", ByteSize.FromMiB(4)).Bytes;
        _frameBytes = (int)args.Size("frame", ByteSize.FromMiB(1)).Bytes;
        _keep = args.Flag("keep");
        _warmupBytes = args.Size("warmup", ByteSize.FromMiB(64));
        _hugePages = args.String("huge-pages", "auto");
        if (_hugePages is not ("auto" or "off")) throw new ArgumentException("--huge-pages takes auto or off");
        _ways = args.String("ways", "local,mount,grpc").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (_ways.Length == 0 || _ways.Any(w => w is not ("local" or "mount" or "grpc"))) throw new ArgumentException("--ways takes local, mount and grpc, comma-separated");
        if (_files < 1 || _rounds < 1 || _threads < 1) throw new ArgumentException("--files, --rounds and --threads must be at least 1");
        if (_fileBytes.Bytes < 1024 * 1024) throw new ArgumentException("--file-size must be at least 1MiB");
    }

    private sealed record Phase(string Way, string Kind, long Bytes, TimeSpan Elapsed, double Cores, DiskStats Disk, TimeSpan NodeCpu, TimeSpan MountCpu, TimeSpan OwnCpu);

    public async Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        var result = await RunWithNodeAsync(context, cancellationToken);
        // The node and the mount have stopped by now; their data is gigabytes.
        if (!_keep) Directory.Delete(Path.Combine(context.DataDirectory, "node"), recursive: true);
        return result;
    }

    private async Task<ScenarioResult> RunWithNodeAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        var result = new ScenarioResult()
            .Column("way", "way").Column("phase", "phase").Column("gb", "GB").Column("seconds", "s").Column("mbps", "MB/s")
            .Column("cores", "perf cores").Column("node_cores", "node cores").Column("mount_cores", "mount cores")
            .Column("cpu_s_per_gb", "CPU s/GB").Column("disk_write_gb", "disk write GB").Column("disk_read_gb", "disk read GB");
        void Warn(string message)
        {
            context.Progress("WARNING: " + message);
            if (!result.Notes.Contains(message)) result.Notes.Add(message);
        }

        var root = context.DataDirectory;
        foreach (var sub in new[] { "node", "mnt", "local" })
        {
            var path = Path.Combine(root, sub);
            if (Directory.Exists(path) && sub != "mnt") Directory.Delete(path, recursive: true);
            Directory.CreateDirectory(path);
        }
        string data = Path.Combine(root, "node"), mnt = Path.Combine(root, "mnt"), local = Path.Combine(root, "local");
        string socket = Path.Combine(data, "n.sock");
        long total = _files * _fileBytes.Bytes;
        // Room for every round of both ways: deleting files does not give space back to a pinned store yet.
        long warmupFileBytes = Math.Min(_warmupBytes.Bytes, _fileBytes.Bytes);
        long ssd = Math.Max(3 * _ram.Bytes, 2 * (total * _rounds + _files * warmupFileBytes) + 2 * _ram.Bytes + ByteSize.FromGiB(2).Bytes);
        var pattern = new CheckpointPattern(_fileBytes.Bytes, seed: 17);
        var warmupPattern = warmupFileBytes > 0 ? new CheckpointPattern(warmupFileBytes, seed: 17) : null;
        result.Notes.Add($"{_files} files of {_fileBytes} ({total / 1e9:F2} GB) per way and round, {pattern.Pieces.Count} writes per file (largest {pattern.LargestPiece / 1e6:F1} MB), " +
                         $"{_rounds} round(s); node files store RAM {_ram}, O_DIRECT device; mount: {_threads} threads, direct_io, 1 MiB requests; reads of {_readBuffer / 1024 / 1024} MiB");
        result.Notes.Add("each file ends durably in every way: local fsync+close, mount close (returns after the node's commit), gRPC Close(commit)");
        result.Notes.Add(warmupPattern is null ? "no warm-up round: the node and the mount were measured from their first call"
            : $"an unmeasured warm-up round of {_files} files of {new ByteSize(warmupFileBytes)} through every way ran first, so the fresh node and mount had compiled their hot paths");

        // The mount's shared buffers (Program.cs in the mount): 3 read slots of 2 MiB and 16 write slots of 1 MiB per thread.
        using var hugePages = _hugePages == "auto" ? HugePageReservation.Ensure(_threads * (3 + 8)) : null;
        await using var processes = new ChildProcesses();
        context.Progress("starting the node and the mount");
        var node = await processes.StartAsync("checkpointcache.dll",
        [
            "serve",
            $"--Engine:DataDirectory={data}",
            "--Engine:Namespaces:files:Kind=Files",
            $"--Engine:Namespaces:files:RamBytes={_ram}",
            $"--Engine:Namespaces:files:SsdBytes={new ByteSize(ssd)}",
            $"--Engine:Namespaces:files:ReadHintBytes={1024 * 1024 + 4096}",
            $"--Node:UnixSocketPath={socket}",
            "--Node:TcpPort=0",
            "--Node:MetricsPort=0",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:CheckpointCache.Node=Information",
        ], " listening on ", context.Progress);
        var mountProcess = await processes.StartAsync("checkpointcache-mount.dll",
        [
            $"--Mount:Endpoint=unix:{socket}",
            $"--Mount:MountPoint={mnt}",
            $"--Mount:Threads={_threads}",
            $"--Mount:HugePages={_hugePages == "auto"}",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:CheckpointCache.Mount=Information",
        ], "Mounted store", context.Progress);
        using var client = FilesClient.Connect("unix:" + socket, new FilesClientOptions { FrameBytes = _frameBytes });
        bool? inHugePages = LinuxMemory.MapsInHugePages(mountProcess.Id, "checkpointcache-mount-writes");
        result.Notes.Add($"the mount's shared buffers lie in {(inHugePages == true ? "2 MiB huge pages" : "ordinary 4 KiB pages")}" +
                         (hugePages is null ? " (--huge-pages off)" : $"; {hugePages.Description}"));

        var phases = new List<Phase>();
        string device = context.Machine.BlockDevice;
        // Round -1 is the warm-up: every way written and read once with smaller files, not measured, then deleted.
        for (int round = warmupPattern is null ? 0 : -1; round < _rounds; round++)
        {
            bool warmup = round < 0;
            var roundPattern = warmup ? warmupPattern! : pattern;
            long roundTotal = warmup ? _files * warmupFileBytes : total;
            string name = warmup ? "warmup" : $"r{round}", label = warmup ? "warm-up (not measured)" : $"round {round}";
            // Rotate the order so that no way always goes first (or last) on a drifting disk.
            var ways = new[] { "local", "mount", "grpc" }.Where(_ways.Contains).ToArray();
            int rotate = Math.Max(round, 0) % 3;
            ways = ways.Skip(rotate).Concat(ways.Take(rotate)).ToArray();
            foreach (var way in ways)
            {
                string dir = way == "local" ? Path.Combine(local, name) : way == "mount" ? Path.Combine(mnt, name) : $"/grpc-{name}";
                if (way == "grpc") await client.MkdirAsync(dir, parents: true, ct: cancellationToken);
                else Directory.CreateDirectory(dir);
                PageCache.Drop(Warn);
                context.Progress($"{label}: {way} writes {roundTotal / 1e9:F2} GB");
                var phase = await MeasureAsync(way, "write", roundTotal, device, processes, node, mountProcess, () => Task.WhenAll(Enumerable.Range(0, _files).Select(f => way == "grpc"
                    ? WriteGrpcAsync(client, $"{dir}/rank{f}.pt", f, roundPattern, cancellationToken)
                    : WriteFileAsync(Path.Combine(dir, $"rank{f}.pt"), f, roundPattern, cancellationToken))));
                if (!warmup) phases.Add(phase);
                context.Progress($"  {phase.Bytes / 1e6 / phase.Elapsed.TotalSeconds:F0} MB/s");
            }
            foreach (var way in ways)
            {
                string dir = way == "local" ? Path.Combine(local, name) : way == "mount" ? Path.Combine(mnt, name) : $"/grpc-{name}";
                PageCache.Drop(Warn);
                context.Progress($"{label}: {way} reads {roundTotal / 1e9:F2} GB");
                long bad = 0;
                var phase = await MeasureAsync(way, "read", roundTotal, device, processes, node, mountProcess, () => Task.WhenAll(Enumerable.Range(0, _files).Select(async f =>
                {
                    long wrong = way == "grpc"
                        ? await ReadGrpcAsync(client, $"{dir}/rank{f}.pt", f, roundPattern, cancellationToken)
                        : await ReadFileAsync(Path.Combine(dir, $"rank{f}.pt"), f, roundPattern, cancellationToken);
                    Interlocked.Add(ref bad, wrong);
                })));
                if (bad > 0) result.Failures.Add($"{label}: {way} read {bad} bytes that differ from what was written");
                if (!warmup) phases.Add(phase);
                context.Progress($"  {phase.Bytes / 1e6 / phase.Elapsed.TotalSeconds:F0} MB/s");
            }
            if (!_keep || warmup)
            {
                if (_ways.Contains("local")) Directory.Delete(Path.Combine(local, name), recursive: true);
                if (_ways.Contains("mount")) Directory.Delete(Path.Combine(mnt, name), recursive: true);
                if (_ways.Contains("grpc")) await client.DeleteAsync($"/grpc-{name}", recursive: true, ct: cancellationToken);
            }
            if (warmup) await SettleAsync(context, processes, node, cancellationToken);
        }

        foreach (var group in phases.GroupBy(p => (p.Way, p.Kind)))
        {
            var row = result.AddRow();
            long bytes = group.Sum(p => p.Bytes);
            double seconds = group.Sum(p => p.Elapsed.TotalSeconds);
            row["way"] = group.Key.Way;
            row["phase"] = group.Key.Kind;
            row["gb"] = Math.Round(bytes / 1e9, 2);
            row["seconds"] = Math.Round(seconds, 2);
            row["mbps"] = Math.Round(bytes / 1e6 / seconds, 0);
            row["cores"] = Math.Round(group.Average(p => p.Cores), 2);
            row["node_cores"] = Math.Round(group.Sum(p => p.NodeCpu.TotalSeconds) / seconds, 2);
            row["mount_cores"] = Math.Round(group.Sum(p => p.MountCpu.TotalSeconds) / seconds, 2);
            row["cpu_s_per_gb"] = Math.Round(group.Sum(p => (p.NodeCpu + p.MountCpu + p.OwnCpu).TotalSeconds) / (bytes / 1e9), 2);
            row["disk_write_gb"] = Math.Round(group.Sum(p => p.Disk.WriteBytes) / 1e9, 2);
            row["disk_read_gb"] = Math.Round(group.Sum(p => p.Disk.ReadBytes) / 1e9, 2);
        }
        double Rate(string way, string kind)
        {
            var g = phases.Where(p => p.Way == way && p.Kind == kind).ToList();
            return g.Sum(p => p.Bytes) / g.Sum(p => p.Elapsed.TotalSeconds);
        }
        foreach (var way in new[] { "mount", "grpc" }.Where(w => _ways.Contains(w) && _ways.Contains("local")))
        {
            result.Ratios[$"{way}_write_vs_local"] = Rate(way, "write") / Rate("local", "write");
            result.Ratios[$"{way}_read_vs_local"] = Rate(way, "read") / Rate("local", "read");
        }
        result.Notes.Add("perf/node/mount cores: CPU of each process over the phase (the writers and readers are the perf process); CPU s/GB adds all three: " +
                         "on a machine this loaded, it says what the phase costs better than MB/s does");
        if (_keep) result.Notes.Add($"data kept in {root}");
        else Directory.Delete(local, recursive: true);
        return result;
    }

    /// <summary>Waits until the node is idle (under 5% of a core over a second, at most 30 s): deleting the warm-up's files leaves it work to do.</summary>
    private static async Task SettleAsync(ScenarioContext context, ChildProcesses processes, Process node, CancellationToken cancellationToken)
    {
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(30))
        {
            var before = processes.CpuTime(node);
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            if ((processes.CpuTime(node) - before).TotalSeconds < 0.05) break;
        }
        context.Progress($"  node idle after {waited.Elapsed.TotalSeconds:F0} s");
    }

    private static async Task<Phase> MeasureAsync(string way, string kind, long bytes, string device, ChildProcesses processes, Process node, Process mount, Func<Task> body)
    {
        var disk = DiskStats.Read(device);
        var cpu = CpuMeter.Start();
        var own = Process.GetCurrentProcess().TotalProcessorTime;
        var nodeCpu = processes.CpuTime(node);
        var mountCpu = processes.CpuTime(mount);
        var stopwatch = Stopwatch.StartNew();
        await body();
        stopwatch.Stop();
        return new Phase(way, kind, bytes, stopwatch.Elapsed, cpu.CoresUsed(), DiskStats.Read(device) - disk,
            processes.CpuTime(node) - nodeCpu, processes.CpuTime(mount) - mountCpu, Process.GetCurrentProcess().TotalProcessorTime - own);
    }

    /// <summary>One rank's torch.save to a file (local or on the mount): the pieces in order, fsync, close.</summary>
    private static async Task WriteFileAsync(string path, int file, CheckpointPattern pattern, CancellationToken ct)
    {
        await Task.Yield();
        var buffer = new byte[pattern.LargestPiece];
        // Unbuffered: each piece is one write(2), as Python's buffered writer passes large writes through.
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        long offset = 0;
        foreach (var piece in pattern.Pieces)
        {
            pattern.Fill(buffer.AsSpan(0, piece), file, offset);
            await stream.WriteAsync(buffer.AsMemory(0, piece), ct);
            offset += piece;
        }
        stream.Flush(flushToDisk: true);
    }

    private static async Task WriteGrpcAsync(FilesClient client, string path, int file, CheckpointPattern pattern, CancellationToken ct)
    {
        await Task.Yield();
        var buffer = new byte[pattern.LargestPiece];
        var open = await client.OpenAsync(path, OpenFlags.OpenWrite | OpenFlags.OpenCreate | OpenFlags.OpenTruncate, ct: ct);
        await using (var stream = client.OpenWriteStream(open.SessionId, ct))
        {
            long offset = 0;
            foreach (var piece in pattern.Pieces)
            {
                pattern.Fill(buffer.AsSpan(0, piece), file, offset);
                await stream.WriteAsync(offset, buffer.AsMemory(0, piece), ct);
                offset += piece;
            }
            await stream.CompleteAsync();
        }
        var close = await client.CloseAsync(open.SessionId, commit: true, ct);
        if (close.Durability != Durability.Local) throw new InvalidOperationException($"{path} closed at durability {close.Durability}");
    }

    /// <summary>Reads a file sequentially (as torch.load does) and returns how many bytes were wrong or missing.</summary>
    private async Task<long> ReadFileAsync(string path, int file, CheckpointPattern pattern, CancellationToken ct)
    {
        await Task.Yield();
        var buffer = new byte[_readBuffer];
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        long offset = 0, wrong = 0;
        for (int n; (n = await stream.ReadAsync(buffer, ct)) > 0; offset += n)
            if (!pattern.Verify(buffer.AsSpan(0, n), file, offset)) wrong += n;
        return wrong + Math.Abs(pattern.FileBytes - offset);
    }

    private static async Task<long> ReadGrpcAsync(FilesClient client, string path, int file, CheckpointPattern pattern, CancellationToken ct)
    {
        await Task.Yield();
        // One server stream for the whole file, frames checked as they arrive.
        using var call = client.Raw.Read(new ReadRequest { Path = path, Offset = 0, Length = pattern.FileBytes, MaxFrameBytes = 1024 * 1024 },
            deadline: DateTime.UtcNow.AddMinutes(30), cancellationToken: ct);
        long offset = 0, wrong = 0;
        while (await call.ResponseStream.MoveNext(ct))
        {
            var frame = call.ResponseStream.Current;
            if (frame.Offset != offset || !pattern.Verify(frame.Data.Span, file, offset)) wrong += frame.Data.Length;
            offset += frame.Data.Length;
        }
        return wrong + Math.Abs(pattern.FileBytes - offset);
    }
}
