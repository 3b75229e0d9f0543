using System.Globalization;
using CheckpointCache.Rpc.Node.V1;

namespace CheckpointCache.Node.Cli;

/// <summary>
/// Prints what a node is and how it is doing at a glance: state, throughput, p99 latency, stores, hit rates
/// per namespace and tier, cloud writeback, cluster membership and rebalancing. Rates come from two samples
/// --interval apart, the same counters Prometheus scrapes (deploy/grafana shows them over time).
/// </summary>
internal static class StatusCommand
{
    public static readonly HashSet<string> Options = ["--endpoint", "--timeout", "--interval"];

    public const string Help =
        "usage: checkpointcache status [--interval SECONDS] [--endpoint E] [--timeout SECONDS]\n\n" +
        "Shows the node's id, version, endpoints, data directory, limits and state (serving, draining, drained);\n" +
        "read and write GB/s and p99 get/put latency over --interval (default 1; 0 takes one sample and reports\n" +
        "totals since start); per store its budgets, use, hits, misses and evictions; per KV namespace its hit rate\n" +
        "by tier; the cloud writeback backlog and Blob requests/s; cluster members and rebalancing progress.\n\n" +
        ClientConnection.Help + "\n" +
        "  --interval SECONDS time between the two samples rates are computed from";

    public static async Task<int> RunAsync(CliArguments args, TextWriter output)
    {
        if (args.Positionals.Count > 0) throw new CliException("status takes no positional arguments");
        var interval = TimeSpan.FromSeconds(1);
        if (args.Option("--interval") is { } text)
            interval = double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s >= 0
                ? TimeSpan.FromSeconds(s) : throw new CliException($"--interval must be a number of seconds, got '{text}'");
        using var client = ClientConnection.Connect(args);
        var info = await client.GetInfoAsync();
        var first = await client.GetStatsAsync();
        var stats = first;
        if (interval > TimeSpan.Zero)
        {
            await Task.Delay(interval);
            stats = await client.GetStatsAsync();
        }
        var rates = new Rates(interval > TimeSpan.Zero ? first : null, stats);

        output.WriteLine($"node        {info.NodeId} (version {info.Version}, key spec v{info.KeySpecVersion})");
        output.WriteLine($"state       {State(stats.Lifecycle)}");
        output.WriteLine($"endpoints   {string.Join("  ", info.Endpoints)}");
        output.WriteLine($"metrics     {(info.MetricsUrl.Length > 0 ? info.MetricsUrl : "(disabled)")}");
        output.WriteLine($"data        {info.DataDirectory}");
        output.WriteLine($"cloud tier  {Cloud(info, stats.Writeback, rates)}");
        output.WriteLine($"uptime      {TimeSpan.FromSeconds(Math.Round(info.UptimeSeconds))} (recovery took {info.RecoverySeconds:F3} s)");
        output.WriteLine($"namespaces  {info.DeclaredNamespaces} declared (limit {info.Limits.MaxNamespaces})");
        var l = info.Limits;
        output.WriteLine($"limits      key {l.MaxKeyBytes} B, value {Size(l.MaxValueBytes)}, batch {l.MaxBatchKeys} keys / {Size(l.MaxBatchBytes)}, frame {Size(l.MaxFrameBytes)}");
        output.WriteLine($"throughput  read {rates.ReadGBps} GB/s, write {rates.WriteGBps} GB/s {rates.Window}");
        output.WriteLine($"latency     p99 get {rates.P99("kv_get")}, put {rates.P99("kv_put")} {rates.LatencyWindow}");
        output.WriteLine($"cluster     {Cluster(stats.Cluster)}");
        output.WriteLine();
        output.WriteLine($"{"store",-8} {"kind",-5} {"ram used/budget",-22} {"ssd used/budget",-22} {"ssd use",7} {"hits ram/ssd",-14} {"misses",8} {"puts",8} {"evicted",10}");
        foreach (var s in stats.Stores)
        {
            var kind = info.Stores.FirstOrDefault(i => i.Name == s.Name)?.Kind ?? "?";
            var ram = s.Tiers.FirstOrDefault(t => t.Tier == "ram");
            var ssd = s.Tiers.FirstOrDefault(t => t.Tier == "ssd");
            var ssdUse = s.SsdBudgetBytes == 0 ? "-" : $"{100.0 * (ssd?.BytesUsed ?? 0) / s.SsdBudgetBytes:0.0}%";
            output.WriteLine($"{s.Name,-8} {kind,-5} {Size(ram?.BytesUsed ?? 0) + " / " + Size(s.RamBudgetBytes),-22} {Size(ssd?.BytesUsed ?? 0) + " / " + Size(s.SsdBudgetBytes),-22} " +
                             $"{ssdUse,7} {(ram?.Hits ?? 0) + "/" + (ssd?.Hits ?? 0),-14} {s.Misses,8} {s.Puts,8} {Size(s.EvictedBytes),10}");
        }
        if (stats.Namespaces.Count > 0)
        {
            output.WriteLine();
            output.WriteLine($"{"store",-8} {"namespace",-32} {"hit rate ram/ssd/miss",-24} {"gets",10} {"puts",8} {"read GB/s",10}");
            foreach (var n in stats.Namespaces)
                output.WriteLine($"{n.Store,-8} {n.Namespace,-32} {rates.HitRates(n),-24} {n.RamHits + n.SsdHits + n.Misses,10} {n.Puts,8} {rates.NamespaceReadGBps(n),10}");
        }
        if (stats.Cloud is { } cloud)
        {
            output.WriteLine();
            output.WriteLine($"blob        {cloud.BlobRequests} requests ({string.Join(", ", cloud.RequestsByOperation.Select(o => $"{o.Op} {o.Requests}"))}), " +
                             $"{Size(cloud.BytesUp)} up, {Size(cloud.BytesDown)} down");
            foreach (var w in cloud.Stores)
                output.WriteLine($"writeback   {w.Store}: backlog {w.BacklogObjects} files / {Size(w.BacklogBytes)}, uploaded {w.UploadedObjects}, failures {w.Failures}, " +
                                 $"restored {w.RestoredObjects}, remote deletes pending {w.PendingRemoteDeletes}");
        }
        return 0;
    }

    private static string State(LifecycleStats? l) => l?.State switch
    {
        null or "" or "serving" => $"serving (ready{(l is { Ready: false } ? ": no, not yet in the cluster" : "")})",
        "draining" => $"draining for {l.DrainingSeconds:F1} s (not ready; new writes refused: {l.WritesRefused}, in flight: {l.WritesInFlight})",
        _ => $"{l.State} (not ready; reads only, new writes refused: {l.WritesRefused}; restart to serve again)",
    };

    private static string Cloud(NodeInfo info, WritebackStats? w, Rates rates)
    {
        if (w is null || !(w.Enabled || info.CloudEnabled)) return "off";
        return $"on; writeback backlog {w.BacklogObjects} objects ({Size(w.BacklogBytes)}); Blob {rates.BlobRequestsPerSecond} requests/s";
    }

    private static string Cluster(ClusterStats? c)
    {
        if (c is null) return "off (a single node)";
        var rebalance = c.RebalanceSettled
            ? $"rebalance settled at view {c.RebalanceSettledVersion}"
            : $"rebalancing: {c.RebalancePending} keys pending after {c.RebalancePasses} passes";
        return $"{c.Members.Count} members [{string.Join(", ", c.Members)}] (view {c.ViewVersion}, member {c.MemberId}); {rebalance}; " +
               $"{c.RebalanceKeysSent} keys ({Size(c.RebalanceBytesSent)}) sent by rebalancing, {c.UnderReplicatedWrites} under-replicated writes; " +
               $"files: {c.FileWriteCopiesSent + c.FileRebalanceCopiesSent} copies sent ({Size(c.FileBytesSent)}), {c.FileRebalancePending} pending";
    }

    internal static string Size(ulong bytes) => bytes switch
    {
        >= 1UL << 30 => $"{bytes / (double)(1UL << 30):0.#} GiB",
        >= 1UL << 20 => $"{bytes / (double)(1UL << 20):0.#} MiB",
        >= 1UL << 10 => $"{bytes / (double)(1UL << 10):0.#} KiB",
        _ => $"{bytes} B",
    };

    /// <summary>Rates and quantiles from two samples; with one sample, totals since start.</summary>
    private sealed class Rates(NodeStats? before, NodeStats now)
    {
        private readonly double _seconds = before is null ? now.UptimeSeconds : Math.Max(1e-3, now.UptimeSeconds - before.UptimeSeconds);

        public string Window => before is null ? "(average since start)" : $"(over {_seconds:F1} s)";

        public string ReadGBps => Gbps(now.Stores.Sum(s => (double)s.Tiers.Sum(t => (double)t.BytesRead)) - (before?.Stores.Sum(s => (double)s.Tiers.Sum(t => (double)t.BytesRead)) ?? 0));
        public string WriteGBps => Gbps(now.Stores.Sum(s => (double)s.BytesWritten) - (before?.Stores.Sum(s => (double)s.BytesWritten) ?? 0));

        public string BlobRequestsPerSecond => ((now.Writeback.BlobRequests - (before?.Writeback?.BlobRequests ?? 0)) / _seconds).ToString("0.0", CultureInfo.InvariantCulture);

        public string NamespaceReadGBps(NamespaceStats n)
            => Gbps(n.BytesRead - (double)(Previous(n)?.BytesRead ?? 0));

        /// <summary>Share of gets served by RAM, by SSD, and missed: over the window when it saw gets, else since start.</summary>
        public string HitRates(NamespaceStats n)
        {
            var p = Previous(n);
            double ram = n.RamHits - (double)(p?.RamHits ?? 0), ssd = n.SsdHits - (double)(p?.SsdHits ?? 0), miss = n.Misses - (double)(p?.Misses ?? 0);
            if (ram + ssd + miss == 0) (ram, ssd, miss) = (n.RamHits, n.SsdHits, n.Misses);
            double total = ram + ssd + miss;
            return total == 0 ? "-" : $"{100 * ram / total:0}% / {100 * ssd / total:0}% / {100 * miss / total:0}%";
        }

        public string LatencyWindow => before is null ? "(since start)" : $"(over {_seconds:F1} s, else since start)";

        /// <summary>The 99th percentile as Prometheus' histogram_quantile computes it (linear within the bucket).</summary>
        public string P99(string name)
        {
            var h = now.Latencies.FirstOrDefault(x => x.Name == name);
            if (h is null || h.Count == 0) return "-";
            var counts = h.Counts.Select(c => (double)c).ToArray();
            double total = h.Count;
            var old = before?.Latencies.FirstOrDefault(x => x.Name == name);
            if (old is not null && old.Count < h.Count && old.Counts.Count == counts.Length)
            {
                for (int i = 0; i < counts.Length; i++) counts[i] -= old.Counts[i];
                total = h.Count - old.Count;
            }
            double rank = 0.99 * total;
            for (int i = 0; i < counts.Length; i++)
            {
                if (counts[i] < rank) continue;
                double lower = i == 0 ? 0 : h.UpperBounds[i - 1], below = i == 0 ? 0 : counts[i - 1];
                double inBucket = counts[i] - below;
                double seconds = inBucket <= 0 ? h.UpperBounds[i] : lower + (h.UpperBounds[i] - lower) * (rank - below) / inBucket;
                return Duration(seconds);
            }
            return $"> {Duration(h.UpperBounds[^1])}";
        }

        private NamespaceStats? Previous(NamespaceStats n) => before?.Namespaces.FirstOrDefault(x => x.Store == n.Store && x.Namespace == n.Namespace);

        private string Gbps(double bytes) => (Math.Max(0, bytes) / _seconds / 1e9).ToString("0.000", CultureInfo.InvariantCulture);

        private static string Duration(double seconds) => seconds >= 1
            ? $"{seconds:0.00} s"
            : $"{seconds * 1000:0.###} ms";
    }
}
