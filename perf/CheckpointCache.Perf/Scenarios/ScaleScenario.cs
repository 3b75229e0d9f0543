using System.Diagnostics;
using System.Text;
using CheckpointCache.Cluster.Membership;
using CheckpointCache.Cluster.Placement;
using CheckpointCache.Engine.Options;
using CheckpointCache.Perf.Framework;
using CheckpointCache.Perf.Scenarios.Scale;
using CheckpointCache.Perf.Scenarios.Writeback;

namespace CheckpointCache.Perf.Scenarios;

/// <summary>
/// The scale study. For each cluster size N it runs N real node hosts in this process (engine with tiny budgets,
/// files store written back to one Azurite, cluster layer with its own etcd connection and counters, peer listener on
/// its own loopback port) against one real etcd, under a steady workload: KV puts into a hashed store with replicas
/// and checkpoint files uploaded to Blob. It measures what every node sends to etcd and to Blob per second, then
/// the bytes rebalancing moves on a join and on a loss (a node stopped without revoking its lease), next to what
/// rendezvous hashing says must move. etcd's own message counters are read alongside as a check.
/// </summary>
public sealed class ScaleScenario : IScenario
{
    private IReadOnlyList<int> _sizes = [];
    private ScaleRunOptions _run = null!;
    private string? _etcdUrl;
    private bool _etcdOnDisk;

    private const string SharedMemory = "/dev/shm";
    private IReadOnlyList<int> _placementSizes = [];

    public string Name => "scale";

    public string Summary => "requests per node to etcd and Blob under a steady KV and checkpoint load, and rebalancing bytes on a join and a loss, for growing N";

    public string Options => """
        --nodes LIST          cluster sizes to run (default 5,25,50,100,200)
        --ttl S               lease TTL in seconds (default 10, the node's default); keep-alives every TTL/3
        --steady S            length of the measured window in seconds (default 40)
        --warmup S            workload before the window, in seconds (default: the longer of TTL/2 and one checkpoint interval + 2)
        --replicas R          copies of every key of the hashed store (default 2)
        --put-every S         seconds between two KV puts of one node (default 8)
        --value-size S        bytes of one KV value (default 64KiB)
        --checkpoint-every S  seconds between two checkpoint files of one node (default 20)
        --checkpoint-size S   bytes of one checkpoint file (default 256KiB)
        --start-parallelism P nodes started at once (default 4)
        --etcd URL            use a running etcd instead of starting /usr/bin/etcd
        --etcd-on-disk        keep the started etcd's data in the scenario folder (default: /dev/shm, memory)
        --placement LIST      member counts for the placement cost per key (default 100,1000,10000,100000)
        """;

    public void Configure(ScenarioArgs args)
    {
        _sizes = args.String("nodes", "5,25,50,100,200").Split(',').Select(int.Parse).ToList();
        var ttl = TimeSpan.FromSeconds(args.Double("ttl", 10));
        var workload = new ScaleWorkloadOptions(TimeSpan.FromSeconds(args.Double("put-every", 8)), (int)args.Size("value-size", new ByteSize(64 * ByteSize.KiB)).Bytes,
            TimeSpan.FromSeconds(args.Double("checkpoint-every", 20)), (int)args.Size("checkpoint-size", new ByteSize(256 * ByteSize.KiB)).Bytes);
        var warmup = TimeSpan.FromSeconds(args.Double("warmup", Math.Max(ttl.TotalSeconds / 2, workload.CheckpointInterval.TotalSeconds + 2)));
        _run = new ScaleRunOptions(ttl, args.Int("replicas", 2), workload, warmup, TimeSpan.FromSeconds(args.Double("steady", 40)), args.Int("start-parallelism", 4));
        _etcdUrl = args.OptionalString("etcd");
        _etcdOnDisk = args.Flag("etcd-on-disk") || !Directory.Exists(SharedMemory);
        _placementSizes = args.String("placement", "100,1000,10000,100000").Split(',').Select(int.Parse).ToList();
        if (_sizes.Any(n => n < _run.Replicas + 1)) throw new ArgumentException("--nodes sizes must exceed --replicas");
        if (_run.Replicas < 1 || _run.StartParallelism < 1) throw new ArgumentException("--replicas and --start-parallelism must be at least 1");
    }

    public async Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken ct)
    {
        var result = new ScenarioResult()
            .Column("nodes", "N")
            .Column("steady_per_node", "etcd req/s per node (mean)")
            .Column("steady_per_node_max", "(max)")
            .Column("steady_total", "etcd req/s, all nodes")
            .Column("etcd_side", "msgs/s etcd counted")
            .Column("puts_per_node", "KV puts/s per node")
            .Column("files_per_node", "files/s per node")
            .Column("blob_rps_per_node", "Blob req/s per node (mean)")
            .Column("blob_rps_per_node_max", "(max)")
            .Column("blob_kbps_per_node", "Blob kB/s per node")
            .Column("blob_requests_per_file", "Blob req per file")
            .Column("blob_put_blob_counted", "Put Blob counted by the nodes (whole run)")
            .Column("blob_objects", "objects in Azurite")
            .Column("hashed_mb", "hashed data MB (all copies)")
            .Column("join_mb", "join: MB moved")
            .Column("join_expected_mb", "(expected)")
            .Column("join_kb_per_node", "join: kB per other node")
            .Column("join_joiner", "join: etcd req by the joiner")
            .Column("join_others", "join: extra etcd req per other node")
            .Column("join_s", "join seen by all (s)")
            .Column("loss_mb", "loss: MB re-copied")
            .Column("loss_expected_mb", "(expected)")
            .Column("loss_kb_per_node", "loss: kB per survivor")
            .Column("fail_others", "loss: extra etcd req per survivor")
            .Column("fail_s", "loss seen by all (s)")
            .Column("session_restarts", "etcd sessions restarted")
            .Column("rss_mib", "RSS MiB")
            .Column("fds", "open fds")
            .Column("load", "load average");

        // All nodes share this process's thread pool; blocking work of many nodes at once (a rebalance pass each after
        // a membership change) must not delay their keep-alives by a lease TTL while the pool grows a thread a second.
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMinThreads(Math.Max(workers, 16 + 2 * _sizes.Max()), Math.Max(io, 16 + 2 * _sizes.Max()));
        // etcd's fsyncs on a disk shared with the nodes and other machines' jobs can stall past a lease TTL and expire
        // every lease at once; counts of requests do not depend on where etcd keeps its data.
        var etcdData = _etcdOnDisk ? Path.Combine(context.DataDirectory, "etcd") : Path.Combine(SharedMemory, $"checkpointcache-scale-etcd-{Environment.ProcessId}");
        using var etcd = _etcdUrl is null ? await ScaleEtcd.StartAsync(etcdData) : ScaleEtcd.Existing(_etcdUrl);
        await using var azurite = await Azurite.StartAsync(Directory.CreateDirectory(Path.Combine(context.DataDirectory, "azurite")).FullName);
        context.Progress($"etcd at {etcd.ClientUrl}, Azurite on port {azurite.Port}; load average {MachineInfo.CurrentLoadAverage()}");
        foreach (var n in _sizes)
        {
            Dictionary<string, object?> row;
            try
            {
                row = await new ScaleRun(n, etcd, azurite, _run, context).RunAsync(ct);
            }
            catch (Exception e) when (result.Rows.Count > 0 && e is not OperationCanceledException)
            {
                // A size that does not fit this machine (open files, memory, time) ends the series; what ran stands.
                result.Notes.Add($"N={n} did not complete on this machine, so larger sizes were not tried: {e.GetType().Name}: {e.Message}");
                context.Progress($"N={n} failed: {e}");
                break;
            }
            result.Rows.Add(row);
            foreach (var key in new[] { "put_failures", "file_failures" })
                if (row[key] is long failed && failed > 0) result.Notes.Add($"N={n}: {failed} {key.Replace('_', ' ')} (the node answered with an error or the call failed)");
        }
        AddRatios(result);
        var w = _run.Workload;
        result.Notes.Add($"workload per node: one KV put of {new ByteSize(w.ValueBytes)} every {w.PutInterval.TotalSeconds:G} s into hashed store '{ScaleNode.KvStore}' with {_run.Replicas} replicas (through that node, which writes the owners), "
            + $"one checkpoint file of {new ByteSize(w.CheckpointBytes)} every {w.CheckpointInterval.TotalSeconds:G} s into its files store, written back to Azurite (Cloud:Mode Writeback); "
            + $"{_run.Warmup.TotalSeconds:G} s of load before a window of {_run.Steady.TotalSeconds:G} s");
        if (_etcdUrl is null) result.Notes.Add($"etcd 3.4 (Debian's etcd-server) with its data {(_etcdOnDisk ? "on the scenario's disk" : "in /dev/shm (memory)")}");
        result.Notes.Add($"lease TTL {_run.LeaseTtl.TotalSeconds:G} s, one keep-alive every TTL/3 on one stream per node, one watch per node on the member prefix; the nodes run in one process, each with its own gRPC connections");
        result.Notes.Add("'etcd sessions restarted': leases granted beyond each node's first, over the whole size's run (a lease that expired because its keep-alives came too late; 0 when the machine keeps up)");
        result.Notes.Add("'extra etcd requests' are requests other than the periodic keep-alive; placement is computed locally, so no key ever costs an etcd request");
        result.Notes.Add("rebalancing MB are value bytes the senders counted (checkpointcache_cluster rebalance bytes sent); expected: the written keys the joiner (or the lost node) owns under rendezvous hashing, times the value size, each moved once");
        if (result.Rows.LastOrDefault()?["blob_ops"] is string ops) result.Notes.Add($"Blob requests in the window at N={result.Rows[^1]["nodes"]}, by operation: {ops}");
        foreach (var note in PlacementCost()) result.Notes.Add(note);
        return result;
    }

    private static void AddRatios(ScenarioResult result)
    {
        double Of(Dictionary<string, object?> row, string key) => Convert.ToDouble(row[key] ?? double.NaN, System.Globalization.CultureInfo.InvariantCulture);
        var first = result.Rows[0];
        var last = result.Rows[^1];
        result.Ratios["etcd_rps_per_node_growth"] = Math.Round(Of(last, "steady_per_node") / Of(first, "steady_per_node"), 3);
        result.Ratios["blob_rps_per_node_growth"] = Math.Round(Of(last, "blob_rps_per_node") / Of(first, "blob_rps_per_node"), 3);
        result.Ratios["blob_bytes_per_node_growth"] = Math.Round(Of(last, "blob_kbps_per_node") / Of(first, "blob_kbps_per_node"), 3);
        result.Ratios["etcd_counted_by_etcd_over_nodes_largest"] = Math.Round(Of(last, "etcd_side") / Of(last, "steady_total"), 3);
        result.Ratios["blob_objects_over_put_blob_counted_largest"] = Math.Round(Of(last, "blob_objects") / Of(last, "blob_put_blob_counted"), 3);
        foreach (var what in new[] { "join", "loss" })
        {
            var measured = result.Rows.Select(r => Of(r, $"{what}_over_expected")).Where(double.IsFinite).ToList();
            if (measured.Count == 0) continue;
            result.Ratios[$"rebalance_{what}_measured_over_expected_min"] = measured.Min();
            result.Ratios[$"rebalance_{what}_measured_over_expected_max"] = measured.Max();
            // Share of all hashed copies moved, times the members that held them (N + 1 either way: with the joiner,
            // or with the lost node): about 1 when one member's share of the data moves.
            result.Ratios[$"rebalance_{what}_share_times_members_largest"] = Math.Round(Of(last, $"{what}_mb") / Of(last, "hashed_mb") * (Of(last, "nodes") + 1), 3);
        }
    }

    /// <summary>What computing one key's owners costs as the member list grows (rebalancing does it per held key).</summary>
    private IEnumerable<string> PlacementCost()
    {
        var key = Encoding.UTF8.GetBytes("checkpoint/step-000100/rank-00042/shard-0000");
        foreach (var m in _placementSizes)
        {
            var view = new MemberView(1, Enumerable.Range(0, m).Select(i => new Member($"node-{i:D6}", "http://x", new Dictionary<string, string>())));
            int rounds = Math.Max(50, 20_000_000 / m);
            // Warm up, so the loop runs optimised code rather than the first JIT tier.
            for (int r = 0; r < Math.Max(50, rounds / 10); r++) RendezvousPlacement.Owners(key, view, 2);
            var clock = Stopwatch.StartNew();
            for (int r = 0; r < rounds; r++) { key[^1] = (byte)r; RendezvousPlacement.Owners(key, view, 2); }
            var perKey = clock.Elapsed.TotalMicroseconds / rounds;
            yield return $"placement of one key over {m} members: {perKey:F1} us";
        }
    }
}
