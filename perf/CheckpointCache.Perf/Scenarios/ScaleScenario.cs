using System.Diagnostics;
using System.Text;
using CheckpointCache.Cluster.Membership;
using CheckpointCache.Cluster.Options;
using CheckpointCache.Cluster.Placement;
using CheckpointCache.Perf.Framework;
using CheckpointCache.Perf.Scenarios.Scale;

namespace CheckpointCache.Perf.Scenarios;

/// <summary>
/// The scale study. For each cluster size N it runs N nodes in this process against one real etcd (each node:
/// a tiny engine and the real cluster layer, with its own connection to etcd and its own request counter), then
/// measures what every node sends to etcd per second in steady state, during a join and during a failure
/// (a node stopped without revoking its lease). etcd's own message counters are read alongside as a check.
/// Its nodes run without the cloud tier (which writes back files, not the KV keys placed here), so Blob requests are 0
/// by construction; the column is there so the figure is stated. The writeback scenario measures Blob traffic.
/// </summary>
public sealed class ScaleScenario : IScenario
{
    private IReadOnlyList<int> _sizes = [];
    private TimeSpan _ttl, _steady;
    private string? _etcdUrl;
    private IReadOnlyList<int> _placementSizes = [];

    public string Name => "scale";

    public string Summary => "requests per node to etcd (and Blob) in steady state, on a join and on a failure, for growing N";

    public string Options => """
        --nodes LIST          cluster sizes to run (default 5,25,50,100,200)
        --ttl S               lease TTL in seconds (default 10, the node's default); keep-alives every TTL/3
        --steady S            length of the steady-state window in seconds (default 30)
        --etcd URL            use a running etcd instead of starting /usr/bin/etcd
        --placement LIST      member counts for the placement cost per key (default 100,1000,10000,100000)
        """;

    public void Configure(ScenarioArgs args)
    {
        _sizes = args.String("nodes", "5,25,50,100,200").Split(',').Select(int.Parse).ToList();
        _ttl = TimeSpan.FromSeconds(args.Double("ttl", 10));
        _steady = TimeSpan.FromSeconds(args.Double("steady", 30));
        _etcdUrl = args.OptionalString("etcd");
        _placementSizes = args.String("placement", "100,1000,10000,100000").Split(',').Select(int.Parse).ToList();
        if (_sizes.Any(n => n < 2)) throw new ArgumentException("--nodes sizes must be at least 2");
    }

    public async Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken ct)
    {
        var result = new ScenarioResult()
            .Column("nodes", "N")
            .Column("steady_per_node", "steady req/s per node (mean)")
            .Column("steady_per_node_max", "(max)")
            .Column("steady_total", "req/s to etcd, all nodes")
            .Column("etcd_side", "msgs/s etcd counted")
            .Column("join_joiner", "join: requests by the joiner")
            .Column("join_others", "join: extra requests per other node")
            .Column("join_watch", "join: watch msgs per node")
            .Column("join_s", "join seen by all (s)")
            .Column("fail_others", "failure: extra requests per survivor")
            .Column("fail_s", "failure seen by all (s)")
            .Column("blob", "Blob req/s per node")
            .Column("rss_mib", "process RSS (MiB)");

        using var etcd = _etcdUrl is null ? await ScaleEtcd.StartAsync(context.DataDirectory) : ScaleEtcd.Existing(_etcdUrl);
        context.Progress($"etcd at {etcd.ClientUrl}");
        var perNode = new List<double>();
        foreach (var n in _sizes)
        {
            var row = await RunSizeAsync(n, etcd, context, ct);
            result.Rows.Add(row);
            perNode.Add((double)row["steady_per_node"]!);
        }
        result.Ratios["steady_per_node_largest_over_smallest"] = perNode[^1] / perNode[0];
        result.Notes.Add($"lease TTL {_ttl.TotalSeconds:F0} s, one keep-alive every TTL/3 on one stream per node, one watch per node on the member prefix; nodes run in one process with their own gRPC connection each");
        result.Notes.Add("'extra requests' are requests other than the periodic keep-alive during the window; the nodes compute placement locally, so no key ever costs an etcd request");
        foreach (var note in PlacementCost()) result.Notes.Add(note);
        return result;
    }

    private ClusterOptions ClusterSettings(string url, string prefix) => new()
    {
        Enabled = true,
        Membership = MembershipKind.Etcd,
        Etcd = new EtcdOptions { Endpoints = url, Prefix = prefix, LeaseTtl = _ttl },
        Stores = { ["ckpt"] = new StorePlacementOptions { Placement = PlacementKind.Hashed, Replicas = 2 } },
        RebalanceDelay = TimeSpan.FromMilliseconds(200),
    };

    private static async Task WaitAsync(Func<bool> condition, string what, TimeSpan limit, CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > limit) throw new TimeoutException("gave up waiting for " + what);
            await Task.Delay(20, ct);
        }
    }

    private static long KeepAlives(ScaleNode node) => node.Etcd.ByMethod.GetValueOrDefault("LeaseKeepAlive");

    private async Task<Dictionary<string, object?>> RunSizeAsync(int n, ScaleEtcd etcd, ScenarioContext context, CancellationToken ct)
    {
        var prefix = $"/checkpointcache-scale/{n}-{Guid.NewGuid():N}/";
        var dir = Path.Combine(context.DataDirectory, $"n{n}");
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        var nodes = new List<ScaleNode>();
        var row = new Dictionary<string, object?> { ["nodes"] = n };
        try
        {
            context.Progress($"N={n}: starting {n} nodes");
            for (int i = 0; i < n; i++)
                nodes.Add(await ScaleNode.StartAsync($"node-{i:D4}", Path.Combine(dir, $"node-{i:D4}"), ClusterSettings(etcd.ClientUrl, prefix), context.LoggerFactory, ct));
            await WaitAsync(() => nodes.All(x => x.Cluster.View.Count == n), $"all {n} nodes to see {n}", TimeSpan.FromMinutes(2), ct);
            // Let the start-up burst pass before the steady window.
            await Task.Delay(_ttl / 2, ct);

            // Steady state.
            var before = nodes.Select(x => x.Etcd.Total).ToArray();
            double etcdBefore = await etcd.MessagesReceivedAsync();
            var clock = Stopwatch.StartNew();
            await Task.Delay(_steady, ct);
            var seconds = clock.Elapsed.TotalSeconds;
            var after = nodes.Select(x => x.Etcd.Total).ToArray();
            double etcdAfter = await etcd.MessagesReceivedAsync();
            var rates = nodes.Select((_, i) => (after[i] - before[i]) / seconds).ToArray();
            row["steady_per_node"] = Math.Round(rates.Average(), 3);
            row["steady_per_node_max"] = Math.Round(rates.Max(), 3);
            row["steady_total"] = Math.Round(rates.Sum(), 1);
            row["etcd_side"] = Math.Round((etcdAfter - etcdBefore) / seconds, 1);
            context.Progress($"N={n}: steady {rates.Average():F3} req/s per node, {rates.Sum():F1} req/s in all; etcd counted {(etcdAfter - etcdBefore) / seconds:F1} msgs/s");

            // A join: what the joiner sends, and what it costs everyone else.
            var others = nodes.ToList();
            var total0 = others.Select(x => x.Etcd.Total).ToArray();
            var keep0 = others.Select(KeepAlives).ToArray();
            var recv0 = others.Select(x => x.Etcd.Received).ToArray();
            clock.Restart();
            var joiner = await ScaleNode.StartAsync($"node-{n:D4}", Path.Combine(dir, $"node-{n:D4}"), ClusterSettings(etcd.ClientUrl, prefix), context.LoggerFactory, ct);
            nodes.Add(joiner);
            await WaitAsync(() => nodes.All(x => x.Cluster.View.Count == n + 1), "everyone to see the joiner", TimeSpan.FromMinutes(2), ct);
            row["join_s"] = Math.Round(clock.Elapsed.TotalSeconds, 3);
            row["join_joiner"] = joiner.Etcd.Total;
            row["join_others"] = Math.Round(others.Select((x, i) => (x.Etcd.Total - total0[i]) - (KeepAlives(x) - keep0[i])).Average(), 3);
            // Received counts keep-alive answers too; those are one per keep-alive sent.
            row["join_watch"] = Math.Round(others.Select((x, i) => (x.Etcd.Received - recv0[i]) - (KeepAlives(x) - keep0[i])).Average(), 3);

            // A failure: a node stops without revoking its lease; the others notice when it expires.
            var victim = nodes[0];
            var survivors = nodes.Skip(1).ToList();
            var total1 = survivors.Select(x => x.Etcd.Total).ToArray();
            var keep1 = survivors.Select(KeepAlives).ToArray();
            clock.Restart();
            await victim.CrashAsync();
            await WaitAsync(() => survivors.All(x => x.Cluster.View.Count == n), "everyone to see the failure", TimeSpan.FromMinutes(2), ct);
            row["fail_s"] = Math.Round(clock.Elapsed.TotalSeconds, 3);
            row["fail_others"] = Math.Round(survivors.Select((x, i) => (x.Etcd.Total - total1[i]) - (KeepAlives(x) - keep1[i])).Average(), 3);
            row["blob"] = nodes.Sum(x => x.Cluster.Counters.BlobRequests) / seconds / nodes.Count;
            row["rss_mib"] = PeakRss.Current() / (1024 * 1024);
            context.Progress($"N={n}: join seen in {row["join_s"]} s, failure in {row["fail_s"]} s");
            return row;
        }
        finally
        {
            await Task.WhenAll(nodes.Select(x => x.DisposeAsync().AsTask()));
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
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
