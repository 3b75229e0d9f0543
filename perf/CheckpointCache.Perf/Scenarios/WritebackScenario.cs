using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage;
using CheckpointCache.Client;
using CheckpointCache.Client.Files;
using CheckpointCache.Engine.Options;
using CheckpointCache.Perf.Framework;
using CheckpointCache.Perf.Scenarios.Checkpoint;
using CheckpointCache.Perf.Scenarios.Writeback;
using CheckpointCache.Rpc.Files.V1;

namespace CheckpointCache.Perf.Scenarios;

/// <summary>
/// Ten checkpoints written three ways against Blob (Azurite on this machine): (a) straight to Blob with the SDK,
/// (b) through a node with writeback of every checkpoint, (c) through a node persisting every 5th. Every request to
/// Blob goes through a counting proxy, so bytes and requests are counted on the wire as well as by the node. Then
/// the last checkpoint is restored on the node that wrote it (local cache) and on a wiped node (Prefetch from Blob).
/// </summary>
public sealed partial class WritebackScenario : IScenario
{
    private int _checkpoints, _files, _every;
    private ByteSize _checkpointBytes;
    private bool _keep;

    public string Name => "writeback";

    public string Summary => "checkpoints to Blob (Azurite) directly, through the cache with writeback of all, and persisting every Nth";

    public string Options => """
        --checkpoints N       checkpoints written each way (default 10)
        --checkpoint-size S   bytes of one checkpoint (default 64MiB)
        --files N             files per checkpoint (default 4)
        --every N             way (c) persists every Nth checkpoint (default 5)
        --keep                keep the data folder
        """;

    public void Configure(ScenarioArgs args)
    {
        _checkpoints = args.Int("checkpoints", 10);
        _checkpointBytes = args.Size("checkpoint-size", ByteSize.FromMiB(64));
        _files = args.Int("files", 4);
        _every = args.Int("every", 5);
        _keep = args.Flag("keep");
        if (_checkpoints < 1 || _files < 1 || _every < 1) throw new ArgumentException("--checkpoints, --files and --every must be at least 1");
    }

    private sealed record Way(string Name, long Requests, long BodyBytes, long NodeRequests, long NodeBytesUp, TimeSpan WriterBlocked, TimeSpan Drain, int Persisted);

    public async Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        var root = context.DataDirectory;
        foreach (var sub in Directory.GetDirectories(root)) Directory.Delete(sub, recursive: true);
        var result = new ScenarioResult()
            .Column("way", "way").Column("writer_blocked_s", "writer blocked s").Column("drain_s", "until persisted s")
            .Column("checkpoints_persisted", "checkpoints in Blob").Column("blob_requests", "requests (wire)").Column("blob_mb", "MB up (wire)")
            .Column("node_requests", "requests (node)").Column("node_mb", "MB up (node)").Column("restore_s", "restore s").Column("restore_mbps", "restore MB/s");
        long fileBytes = _checkpointBytes.Bytes / _files;
        var content = new byte[fileBytes];
        new Random(7).NextBytes(content);
        double totalMb = _checkpoints * _files * fileBytes / 1e6;

        await using var azurite = await Azurite.StartAsync(Directory.CreateDirectory(Path.Combine(root, "azurite")).FullName);
        await using var proxy = new CountingProxy(azurite.Port);
        var connection = Azurite.ConnectionString(proxy.Port);
        context.Progress($"Azurite on port {azurite.Port}, counting proxy on {proxy.Port}; {_checkpoints} checkpoints of {_files} x {new ByteSize(fileBytes)}");

        // (a) Straight to Blob: the writer waits for every upload.
        var direct = new BlobServiceClient(connection).GetBlobContainerClient("direct");
        await direct.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        var before = (proxy.Requests, proxy.BodyBytes);
        var clock = Stopwatch.StartNew();
        for (int c = 1; c <= _checkpoints; c++)
            await Task.WhenAll(Enumerable.Range(0, _files).Select(f => direct.GetBlobClient($"ckpt/step-{c}/rank-{f}.pt").UploadAsync(BinaryData.FromBytes(content),
                new BlobUploadOptions { TransferOptions = new StorageTransferOptions { MaximumTransferSize = 16 << 20, InitialTransferSize = 16 << 20, MaximumConcurrency = 4 } }, cancellationToken)));
        var directWay = new Way("a: straight to Blob (SDK)", proxy.Requests - before.Requests, proxy.BodyBytes - before.BodyBytes, 0, 0, clock.Elapsed, clock.Elapsed, _checkpoints);
        context.Progress($"(a) direct: {directWay.WriterBlocked.TotalSeconds:F1} s, {directWay.Requests} requests");

        // Restore baseline: the last checkpoint downloaded with the SDK.
        clock.Restart();
        await Task.WhenAll(Enumerable.Range(0, _files).Select(f => direct.GetBlobClient($"ckpt/step-{_checkpoints}/rank-{f}.pt").DownloadContentAsync(cancellationToken)));
        var sdkRestore = clock.Elapsed;

        var (all, allRestore) = await ThroughNodeAsync(context, "b: cache, writeback of every checkpoint", Path.Combine(root, "node-all"), connection, "every", persistEvery: 1, content, proxy, restoreLocal: true, cancellationToken);
        var (nth, _) = await ThroughNodeAsync(context, $"c: cache, every {_every}th persisted", Path.Combine(root, "node-nth"), connection, "nth", persistEvery: _every, content, proxy, restoreLocal: false, cancellationToken);

        // Restore from Blob onto a wiped node (empty data directory): Prefetch of the last checkpoint.
        TimeSpan blobRestore;
        await using (var processes = new ChildProcesses())
        {
            var (client, files, _) = await StartNodeAsync(processes, Path.Combine(root, "node-wiped"), connection, "every", 1, context);
            using var _c = client;
            clock.Restart();
            var p = await files.PrefetchAsync($"/ckpt/step-{_checkpoints}", ct: cancellationToken);
            blobRestore = clock.Elapsed;
            if (p.ObjectsDone != _files || p.ObjectsFailed != 0) result.Failures.Add($"prefetch restored {p.ObjectsDone - p.ObjectsFailed} of {_files} files");
            var check = new MemoryStream();
            await files.DownloadAsync($"/ckpt/step-{_checkpoints}/rank-0.pt", check, ct: cancellationToken);
            if (!check.ToArray().AsSpan().SequenceEqual(content)) result.Failures.Add("a file restored from Blob differs from what was written");
        }
        double checkpointMb = _files * fileBytes / 1e6;
        foreach (var (way, restore, restoreName) in new[] { (directWay, sdkRestore, "SDK download"), (all, allRestore, "local cache"), (nth, TimeSpan.Zero, "") })
        {
            var row = result.AddRow();
            row["way"] = way.Name;
            row["writer_blocked_s"] = Math.Round(way.WriterBlocked.TotalSeconds, 2);
            row["drain_s"] = Math.Round(way.Drain.TotalSeconds, 2);
            row["checkpoints_persisted"] = way.Persisted;
            row["blob_requests"] = way.Requests;
            row["blob_mb"] = Math.Round(way.BodyBytes / 1e6, 1);
            row["node_requests"] = way.NodeRequests;
            row["node_mb"] = Math.Round(way.NodeBytesUp / 1e6, 1);
            if (restore > TimeSpan.Zero)
            {
                row["restore_s"] = Math.Round(restore.TotalSeconds, 2);
                row["restore_mbps"] = Math.Round(checkpointMb / restore.TotalSeconds, 1);
            }
        }
        var wiped = result.AddRow();
        wiped["way"] = "restore onto a wiped node (Prefetch from Blob)";
        wiped["restore_s"] = Math.Round(blobRestore.TotalSeconds, 2);
        wiped["restore_mbps"] = Math.Round(checkpointMb / blobRestore.TotalSeconds, 1);

        result.Ratios["blob_bytes_every5th_vs_direct"] = Math.Round((double)nth.BodyBytes / directWay.BodyBytes, 3);
        result.Ratios["blob_requests_every5th_vs_direct"] = Math.Round((double)nth.Requests / directWay.Requests, 3);
        result.Ratios["blob_bytes_writeback_all_vs_direct"] = Math.Round((double)all.BodyBytes / directWay.BodyBytes, 3);
        result.Ratios["blob_requests_writeback_all_vs_direct"] = Math.Round((double)all.Requests / directWay.Requests, 3);
        result.Ratios["writer_blocked_cache_vs_direct"] = Math.Round(all.WriterBlocked / directWay.WriterBlocked, 3);
        result.Ratios["writer_blocked_cache_every5th_vs_direct"] = Math.Round(nth.WriterBlocked / directWay.WriterBlocked, 3);
        result.Ratios["node_counted_vs_wire_requests"] = Math.Round((double)(all.NodeRequests + nth.NodeRequests) / (all.Requests + nth.Requests), 3);
        result.Ratios["restore_local_vs_blob_seconds"] = Math.Round(allRestore / blobRestore, 3);
        result.Notes.Add($"{totalMb:F0} MB written each way; Azurite (a Node.js emulator on this 2-core machine) stands in for Blob, so absolute times are the emulator's, not Azure's; requests and bytes are what Blob would receive.");
        result.Notes.Add("wire counts come from a counting TCP proxy in front of Azurite (request heads and Content-Length bodies); node counts from checkpointcache_blob_requests_total and checkpointcache_blob_bytes_total{direction=\"up\"}.");
        result.Notes.Add("requests: the SDK way uses the SDK's own upload (single-shot up to 16 MiB, else 16 MiB blocks, 4 at once; it chose how many requests a file costs); the node sends a file of at most Cloud:BlockBytes (16 MiB) as one Put Blob, larger ones as 16 MiB blocks plus a block list, and one create-container per node.");
        result.Notes.Add("writer blocked: (a) until every upload of every checkpoint returned; (b) until every file of every checkpoint was committed on the node (Close with commit; durable on local SSD), uploads continue behind.");
        if (!_keep) foreach (var sub in Directory.GetDirectories(root)) Directory.Delete(sub, recursive: true);
        return result;
    }

    private async Task<(CacheClient Client, FilesClient Files, string MetricsUrl)> StartNodeAsync(ChildProcesses processes, string data, string connection, string container, int persistEvery,
        ScenarioContext context)
    {
        Directory.CreateDirectory(data);
        var socket = Path.Combine(data, "n.sock");
        var args = new List<string>
        {
            "serve", $"--Engine:DataDirectory={data}", "--Engine:Namespaces:files:Kind=Files", "--Engine:Namespaces:files:RamBytes=256MiB",
            $"--Engine:Namespaces:files:SsdBytes={new ByteSize(Math.Max(2L << 30, 3 * _checkpoints * _checkpointBytes.Bytes))}",
            "--Engine:Namespaces:kv:Kind=Kv", "--Engine:Namespaces:kv:RamBytes=16MiB", "--Engine:Namespaces:kv:PageBytes=4MiB", "--Engine:Namespaces:kv:ChunkBytes=1047552",
            "--Engine:Namespaces:kv:SegmentBytes=16MiB", "--Engine:Namespaces:kv:SsdBytes=128MiB",
            $"--Node:UnixSocketPath={socket}", "--Node:TcpPort=0", "--Node:MetricsPort=0",
            "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:CheckpointCache.Node=Information",
            "--Cloud:Enabled=true", $"--Cloud:ConnectionString={connection}", $"--Cloud:Container={container}",
            "--Cloud:BlockBytes=16777216", "--Cloud:UploadParallelism=4", "--Cloud:ConcurrentUploads=2",
        };
        if (persistEvery > 1)
        {
            args.Add("--Cloud:Persist:Kind=EveryNthCheckpointDirectory");
            args.Add($"--Cloud:Persist:N={persistEvery}");
            args.Add("--Cloud:Persist:DirectoryDepth=2");
        }
        await processes.StartAsync("checkpointcache.dll", args, " listening on ", context.Progress);
        var client = CacheClient.Connect("unix:" + socket);
        var info = await client.GetInfoAsync();
        return (client, new FilesClient(client, new FilesClientOptions { StreamTimeout = TimeSpan.FromMinutes(30) }), info.MetricsUrl);
    }

    private async Task<(Way Way, TimeSpan LocalRestore)> ThroughNodeAsync(ScenarioContext context, string name, string data, string connection, string container, int persistEvery,
        byte[] content, CountingProxy proxy, bool restoreLocal, CancellationToken cancellationToken)
    {
        await using var processes = new ChildProcesses();
        var (client, files, metricsUrl) = await StartNodeAsync(processes, data, connection, container, persistEvery, context);
        using var _ = client;
        var before = (proxy.Requests, proxy.BodyBytes);
        var blocked = TimeSpan.Zero;
        var total = Stopwatch.StartNew();
        for (int c = 1; c <= _checkpoints; c++)
        {
            var clock = Stopwatch.StartNew();
            await files.MkdirAsync($"/ckpt/step-{c}", parents: true, ct: cancellationToken);
            await Task.WhenAll(Enumerable.Range(0, _files).Select(f => files.UploadAsync($"/ckpt/step-{c}/rank-{f}.pt", new MemoryStream(content, writable: false), ct: cancellationToken)));
            blocked += clock.Elapsed;
        }
        // Until the backlog is gone: everything selected is persisted.
        while ((await files.StatusAsync("/ckpt", limit: 10_000, ct: cancellationToken)).Objects.Any(o => o.PersistPending))
            await Task.Delay(200, cancellationToken);
        var drain = total.Elapsed;
        var status = (await files.StatusAsync("/ckpt", limit: 10_000, ct: cancellationToken)).Objects;
        int persisted = status.Where(o => o.Durability == Durability.Persisted).Select(o => o.Path.Split('/')[2]).Distinct().Count();
        var (nodeRequests, nodeBytes) = await NodeCountsAsync(metricsUrl);
        var way = new Way(name, proxy.Requests - before.Requests, proxy.BodyBytes - before.BodyBytes, nodeRequests, nodeBytes, blocked, drain, persisted);
        context.Progress($"({name}) writer blocked {blocked.TotalSeconds:F1} s, persisted after {drain.TotalSeconds:F1} s, {way.Requests} requests on the wire, {nodeRequests} counted by the node");

        var restore = TimeSpan.Zero;
        if (restoreLocal)
        {
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, _files).Select(f => files.DownloadAsync($"/ckpt/step-{_checkpoints}/rank-{f}.pt", Stream.Null, ct: cancellationToken)));
            restore = clock.Elapsed;
        }
        files.Dispose();
        return (way, restore);
    }

    private static async Task<(long Requests, long BytesUp)> NodeCountsAsync(string metricsUrl)
    {
        using var http = new HttpClient();
        var text = await http.GetStringAsync(metricsUrl);
        long requests = 0, up = 0;
        foreach (Match m in MetricLine().Matches(text))
        {
            var value = (long)double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture);
            if (m.Groups["name"].Value == "checkpointcache_blob_requests_total") requests += value;
            else if (m.Groups["name"].Value == "checkpointcache_blob_bytes_total" && m.Groups["labels"].Value.Contains("\"up\"", StringComparison.Ordinal)) up += value;
        }
        return (requests, up);
    }

    [GeneratedRegex(@"^(?<name>[a-z_]+)(?:\{(?<labels>[^}]*)\})? (?<value>[-+0-9.eE]+)$", RegexOptions.Multiline)]
    private static partial Regex MetricLine();
}
