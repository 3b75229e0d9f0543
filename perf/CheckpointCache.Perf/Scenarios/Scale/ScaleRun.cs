using System.Diagnostics;
using Azure.Storage.Blobs;
using CheckpointCache.Client;
using CheckpointCache.Perf.Framework;
using CheckpointCache.Perf.Scenarios.Writeback;
using CheckpointCache.Rpc.Kv.V1;

namespace CheckpointCache.Perf.Scenarios.Scale;

/// <summary>
/// One cluster size of the scale study: N nodes started, the steady workload, a measured window (requests to etcd
/// and to Blob per node), then a join and a loss with the rebalancing bytes each caused next to what rendezvous
/// hashing says must move.
/// </summary>
internal sealed class ScaleRun(int n, ScaleEtcd etcd, Azurite azurite, ScaleRunOptions options, ScenarioContext context)
{
    private readonly List<ScaleNode> _nodes = [];
    private readonly List<ScaleNode> _started = [];
    private readonly Dictionary<string, object?> _row = new(StringComparer.Ordinal) { ["nodes"] = n };

    public async Task<Dictionary<string, object?>> RunAsync(CancellationToken ct)
    {
        var dir = Path.Combine(context.DataDirectory, $"n{n}");
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        var settings = new ScaleNodeSettings(etcd.ClientUrl, $"/checkpointcache-scale/{n}-{Guid.NewGuid():N}/", options.LeaseTtl, options.Replicas,
            Azurite.ConnectionString(azurite.Port), $"scale-n{n}-{Guid.NewGuid():N}"[..30]);
        ScaleWorkload? workload = null;
        try
        {
            context.Progress($"N={n}: starting {n} nodes");
            var clock = Stopwatch.StartNew();
            await StartNodesAsync(Enumerable.Range(0, n).Select(i => $"node-{i:D4}"), dir, settings, ct);
            await WaitAsync(() => _nodes.All(x => x.Cluster.View.Count == n), $"all {n} nodes to see {n}", ct);
            _row["start_s"] = Math.Round(clock.Elapsed.TotalSeconds, 1);
            var ns = await DeclareAsync(_nodes, ct);

            workload = new ScaleWorkload(options.Workload, ns, options.Replicas);
            workload.Start(_nodes);
            // The start-up burst (etcd) and every node's first upload (which creates the container) pass first.
            await Task.Delay(options.Warmup, ct);
            await MeasureSteadyAsync(workload, ct);
            await workload.StopAsync();
            _row["put_failures"] = workload.PutFailures;
            _row["file_failures"] = workload.FileFailures;
            _row["under_replicated"] = workload.UnderReplicated;
            foreach (var error in workload.Errors.Take(3)) context.Progress($"N={n}: workload error: {error}");

            // Rebalancing is measured on settled data: every copy where the placement says.
            await WaitSettledAsync(_nodes, n, "the workload's copies to settle", ct);
            var keys = workload.Written.ToList();
            _row["hashed_mb"] = Math.Round((double)keys.Count * options.Workload.ValueBytes * options.Replicas / 1e6, 1);
            await JoinAsync(dir, settings, ns, keys, ct);
            await LoseAsync(ns, keys, ct);
            await CountObjectsAsync(settings, ct);
            _row["session_restarts"] = _nodes.Sum(x => Math.Max(0, x.Etcd.ByMethod.GetValueOrDefault("LeaseGrant") - 1));
            _row["rss_mib"] = PeakRss.Current() / (1024 * 1024);
            _row["load"] = MachineInfo.CurrentLoadAverage();
            return _row;
        }
        finally
        {
            if (workload is not null) await workload.DisposeAsync();
            await Task.WhenAll(_nodes.Select(x => x.DisposeAsync().AsTask()));
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    private async Task StartNodesAsync(IEnumerable<string> ids, string dir, ScaleNodeSettings settings, CancellationToken ct)
    {
        // A few at a time: a start is mostly the host's own set-up, which overlaps well, but 2 cores are soon full.
        using var gate = new SemaphoreSlim(options.StartParallelism);
        await Task.WhenAll(ids.Select(async id =>
        {
            await gate.WaitAsync(ct);
            try
            {
                var node = await ScaleNode.StartAsync(id, Path.Combine(dir, id), settings, context.LoggerFactory, ct);
                lock (_nodes) { _nodes.Add(node); _started.Add(node); }
            }
            finally
            {
                gate.Release();
            }
        }));
        _nodes.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
    }

    /// <summary>The workload's namespace on every node (the id is the descriptor's hash, so it is the same everywhere).</summary>
    private static async Task<KvNamespace> DeclareAsync(IReadOnlyList<ScaleNode> nodes, CancellationToken ct)
    {
        var descriptor = new NamespaceDescriptor { Model = "perf/scale", Dtype = "bfloat16", TpSize = 1, TokensPerBlock = 16 };
        KvNamespace? ns = null;
        foreach (var node in nodes) ns = await node.Client.DeclareNamespaceAsync(descriptor, ScaleNode.KvStore, ct);
        return ns ?? throw new ArgumentException("no node to declare the namespace on");
    }

    private async Task MeasureSteadyAsync(ScaleWorkload workload, CancellationToken ct)
    {
        var etcd0 = _nodes.Select(x => x.Etcd.Total).ToArray();
        var blob0 = _nodes.Select(x => x.Blob).ToArray();
        long puts0 = workload.Puts, files0 = workload.Files;
        double etcdSide0 = await etcd.MessagesReceivedAsync();
        var clock = Stopwatch.StartNew();
        await Task.Delay(options.Steady, ct);
        var seconds = clock.Elapsed.TotalSeconds;
        double etcdSide1 = await etcd.MessagesReceivedAsync();
        var etcd1 = _nodes.Select(x => x.Etcd.Total).ToArray();
        var blob1 = _nodes.Select(x => x.Blob).ToArray();
        long puts = workload.Puts - puts0, files = workload.Files - files0;

        var etcdRates = _nodes.Select((_, i) => (etcd1[i] - etcd0[i]) / seconds).ToArray();
        var blobRates = _nodes.Select((_, i) => (blob1[i].Requests - blob0[i].Requests) / seconds).ToArray();
        long blobRequests = _nodes.Select((_, i) => blob1[i].Requests - blob0[i].Requests).Sum();
        long blobBytes = _nodes.Select((_, i) => blob1[i].BytesUp + blob1[i].BytesDown - blob0[i].BytesUp - blob0[i].BytesDown).Sum();
        _row["steady_s"] = Math.Round(seconds, 1);
        _row["steady_per_node"] = Math.Round(etcdRates.Average(), 3);
        _row["steady_per_node_max"] = Math.Round(etcdRates.Max(), 3);
        _row["steady_total"] = Math.Round(etcdRates.Sum(), 1);
        _row["etcd_side"] = Math.Round((etcdSide1 - etcdSide0) / seconds, 1);
        _row["puts_per_node"] = Math.Round(puts / seconds / n, 3);
        _row["files_per_node"] = Math.Round(files / seconds / n, 3);
        _row["blob_rps_per_node"] = Math.Round(blobRates.Average(), 3);
        _row["blob_rps_per_node_max"] = Math.Round(blobRates.Max(), 3);
        _row["blob_kbps_per_node"] = Math.Round(blobBytes / seconds / n / 1e3, 2);
        _row["blob_rps_total"] = Math.Round(blobRequests / seconds, 1);
        _row["blob_requests_per_file"] = files == 0 ? null : Math.Round((double)blobRequests / files, 2);
        _row["blob_ops"] = string.Join(" ", _nodes.SelectMany((_, i) => blob1[i].RequestsByOperation.Select(o => (o.Key, Delta: o.Value - blob0[i].RequestsByOperation.GetValueOrDefault(o.Key))))
            .GroupBy(o => o.Key).Where(g => g.Sum(o => o.Delta) > 0).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key}={g.Sum(o => o.Delta)}"));
        context.Progress($"N={n}: etcd {etcdRates.Average():F3} req/s per node ({etcdRates.Sum():F1} in all, etcd counted {(etcdSide1 - etcdSide0) / seconds:F1}); "
            + $"Blob {blobRates.Average():F3} req/s and {blobBytes / seconds / n / 1e6:F3} MB/s per node; {puts / seconds / n:F3} puts/s and {files / seconds / n:F3} files/s per node");
    }

    private async Task JoinAsync(string dir, ScaleNodeSettings settings, KvNamespace ns, List<byte[]> keys, CancellationToken ct)
    {
        var joinerId = $"node-{n:D4}";
        var others = _nodes.ToList();
        long expected = RebalanceExpectation.KeysOwnedBy(joinerId, others.Select(x => x.Id).Append(joinerId), ns, keys, options.Replicas) * options.Workload.ValueBytes;
        var sent0 = others.Select(x => x.Cluster.Counters.RebalanceBytesSent).ToArray();
        var total0 = others.Select(x => x.Etcd.Total).ToArray();
        var keep0 = others.Select(KeepAlives).ToArray();
        var recv0 = others.Select(x => x.Etcd.Received).ToArray();
        var clock = Stopwatch.StartNew();
        await StartNodesAsync([joinerId], dir, settings, ct);
        var joiner = _nodes.Single(x => x.Id == joinerId);
        await DeclareAsync([joiner], ct);
        await WaitAsync(() => _nodes.All(x => x.Cluster.View.Count == n + 1), "everyone to see the joiner", ct);
        _row["join_s"] = Math.Round(clock.Elapsed.TotalSeconds, 3);
        _row["join_joiner"] = joiner.Etcd.Total;
        _row["join_others"] = Math.Round(others.Select((x, i) => (x.Etcd.Total - total0[i]) - (KeepAlives(x) - keep0[i])).Average(), 3);
        // Received counts keep-alive answers too; those are one per keep-alive sent.
        _row["join_watch"] = Math.Round(others.Select((x, i) => (x.Etcd.Received - recv0[i]) - (KeepAlives(x) - keep0[i])).Average(), 3);
        await WaitSettledAsync(_nodes, n + 1, "the join's copies to settle", ct);
        _row["join_settled_s"] = Math.Round(clock.Elapsed.TotalSeconds, 3);
        var sent = others.Select((x, i) => x.Cluster.Counters.RebalanceBytesSent - sent0[i]).ToArray();
        RecordMoved("join", sent, expected, joiner.Cluster.Counters.BytesReceived);
    }

    private async Task LoseAsync(KvNamespace ns, List<byte[]> keys, CancellationToken ct)
    {
        var victim = _nodes[0];
        var survivors = _nodes.Skip(1).ToList();
        long expected = RebalanceExpectation.KeysOwnedBy(victim.Id, _nodes.Select(x => x.Id), ns, keys, options.Replicas) * options.Workload.ValueBytes;
        var sent0 = survivors.Select(x => x.Cluster.Counters.RebalanceBytesSent).ToArray();
        var total1 = survivors.Select(x => x.Etcd.Total).ToArray();
        var keep1 = survivors.Select(KeepAlives).ToArray();
        var clock = Stopwatch.StartNew();
        await victim.CrashAsync();
        _nodes.Remove(victim);
        await WaitAsync(() => survivors.All(x => x.Cluster.View.Count == n), "everyone to see the loss", ct);
        _row["fail_s"] = Math.Round(clock.Elapsed.TotalSeconds, 3);
        _row["fail_others"] = Math.Round(survivors.Select((x, i) => (x.Etcd.Total - total1[i]) - (KeepAlives(x) - keep1[i])).Average(), 3);
        await WaitSettledAsync(survivors, n, "the loss's copies to settle", ct);
        _row["loss_settled_s"] = Math.Round(clock.Elapsed.TotalSeconds, 3);
        _row["fds"] = Directory.GetFiles("/proc/self/fd").Length;
        var sent = survivors.Select((x, i) => x.Cluster.Counters.RebalanceBytesSent - sent0[i]).ToArray();
        RecordMoved("loss", sent, expected, null);
    }

    /// <summary>Bytes moved by rebalancing (value bytes as the senders counted them) over what the placement says must move.</summary>
    private void RecordMoved(string what, long[] sentPerNode, long expected, long? receivedByJoiner)
    {
        long total = sentPerNode.Sum();
        _row[$"{what}_mb"] = Math.Round(total / 1e6, 3);
        _row[$"{what}_expected_mb"] = Math.Round(expected / 1e6, 3);
        _row[$"{what}_over_expected"] = expected == 0 ? null : Math.Round((double)total / expected, 3);
        _row[$"{what}_kb_per_node"] = Math.Round(total / 1e3 / sentPerNode.Length, 1);
        _row[$"{what}_mb_max_node"] = Math.Round(sentPerNode.Max() / 1e6, 3);
        _row[$"{what}_senders"] = sentPerNode.Count(b => b > 0);
        if (receivedByJoiner is { } received) _row[$"{what}_received_mb"] = Math.Round(received / 1e6, 3);
        context.Progress($"N={n}: {what} moved {total / 1e6:F2} MB (expected {expected / 1e6:F2} MB) from {sentPerNode.Count(b => b > 0)} nodes");
    }

    /// <summary>Azurite's own view, an independent check on the nodes' counters: one object per Put Blob they counted.</summary>
    private async Task CountObjectsAsync(ScaleNodeSettings settings, CancellationToken ct)
    {
        int objects = 0;
        await foreach (var _ in new BlobContainerClient(settings.BlobConnectionString, settings.Container).GetBlobsAsync(cancellationToken: ct)) objects++;
        _row["blob_objects"] = objects;
        _row["blob_put_blob_counted"] = _started.Sum(x => x.Blob.RequestsByOperation.GetValueOrDefault("put_blob"));
    }

    private static long KeepAlives(ScaleNode node) => node.Etcd.ByMethod.GetValueOrDefault("LeaseKeepAlive");

    private static async Task WaitSettledAsync(IReadOnlyCollection<ScaleNode> nodes, int members, string what, CancellationToken ct)
        => await WaitAsync(() => nodes.All(x => x.Cluster.View.Count == members && x.Cluster.RebalanceSettled), what, ct);

    private static async Task WaitAsync(Func<bool> condition, string what, CancellationToken ct)
    {
        // A safety net for a hung cluster, not a performance expectation.
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException("gave up waiting for " + what);
            await Task.Delay(50, ct);
        }
    }
}
