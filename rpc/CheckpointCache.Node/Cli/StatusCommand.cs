
namespace CheckpointCache.Node.Cli;

/// <summary>Prints what a node is, its limits, stores and counters.</summary>
internal static class StatusCommand
{
    public const string Help =
        "usage: checkpointcache status [--endpoint E] [--timeout SECONDS]\n\n" +
        "Shows the node's id, version, endpoints, data directory, limits, and per store its budgets, use, hits,\n" +
        "misses and evictions.\n\n" + ClientConnection.Help;

    public static async Task<int> RunAsync(CliArguments args, TextWriter output)
    {
        if (args.Positionals.Count > 0) throw new CliException("status takes no positional arguments");
        using var client = ClientConnection.Connect(args);
        var info = await client.GetInfoAsync();
        var stats = await client.GetStatsAsync();
        output.WriteLine($"node        {info.NodeId} (version {info.Version}, key spec v{info.KeySpecVersion})");
        output.WriteLine($"endpoints   {string.Join("  ", info.Endpoints)}");
        output.WriteLine($"data        {info.DataDirectory}");
        output.WriteLine($"cloud tier  {(info.CloudEnabled ? "on" : "off")}");
        output.WriteLine($"uptime      {TimeSpan.FromSeconds(Math.Round(info.UptimeSeconds))} (recovery took {info.RecoverySeconds:F3} s)");
        output.WriteLine($"namespaces  {info.DeclaredNamespaces} declared (limit {info.Limits.MaxNamespaces})");
        var l = info.Limits;
        output.WriteLine($"limits      key {l.MaxKeyBytes} B, value {Size(l.MaxValueBytes)}, batch {l.MaxBatchKeys} keys / {Size(l.MaxBatchBytes)}, frame {Size(l.MaxFrameBytes)}");
        output.WriteLine();
        output.WriteLine($"{"store",-8} {"kind",-5} {"ram used/budget",-22} {"ssd used/budget",-22} {"hits ram/ssd",-14} {"misses",8} {"puts",8} {"evicted",10}");
        foreach (var s in stats.Stores)
        {
            var kind = info.Stores.FirstOrDefault(i => i.Name == s.Name)?.Kind ?? "?";
            var ram = s.Tiers.FirstOrDefault(t => t.Tier == "ram");
            var ssd = s.Tiers.FirstOrDefault(t => t.Tier == "ssd");
            output.WriteLine($"{s.Name,-8} {kind,-5} {Size(ram?.BytesUsed ?? 0) + " / " + Size(s.RamBudgetBytes),-22} {Size(ssd?.BytesUsed ?? 0) + " / " + Size(s.SsdBudgetBytes),-22} " +
                             $"{(ram?.Hits ?? 0) + "/" + (ssd?.Hits ?? 0),-14} {s.Misses,8} {s.Puts,8} {Size(s.EvictedBytes),10}");
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

    internal static string Size(ulong bytes) => bytes switch
    {
        >= 1UL << 30 => $"{bytes / (double)(1UL << 30):0.#} GiB",
        >= 1UL << 20 => $"{bytes / (double)(1UL << 20):0.#} MiB",
        >= 1UL << 10 => $"{bytes / (double)(1UL << 10):0.#} KiB",
        _ => $"{bytes} B",
    };
}
