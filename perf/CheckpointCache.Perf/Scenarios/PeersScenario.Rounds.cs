using System.Globalization;
using CheckpointCache.Engine.Options;
using CheckpointCache.Perf.Framework;

namespace CheckpointCache.Perf.Scenarios;

/// <summary>
/// The servers of one value size, all running at once, and their phases taken in turns. Run one after the
/// other, the system measured first after the limits and the fills met a disk still busy with their writes
/// (the host's write-back), and whichever ran first lost by a third or more; now every measured phase runs
/// in rounds, each round visiting every system in an order rotated from the last, and each figure is the
/// median of the rounds. Only the measured server runs: the others are frozen (<see cref="ServerPause"/>), so
/// their timers, checkpoints and write-back fall in their own phases, as when they ran one after the other.
/// </summary>
public sealed partial class PeersScenario
{
    /// <summary>The figures of one phase of one system in one round, for the comparisons; fills are round 0.</summary>
    private sealed record Cell(string System, long Size, int Concurrency, string Keys, string Mix, int Round, Dictionary<string, object?> Row, PhaseStats Stats)
    {
        public bool Reading => Mix != "fill" && Stats.Gets > 0 && MixGetShare[Mix] >= 0.5;

        public double GBps => Reading ? Stats.GetGBps : Stats.SetGBps;

        public bool SamePhase(Cell other) => other.Size == Size && other.Concurrency == Concurrency && other.Keys == Keys && other.Mix == Mix;
    }

    /// <summary>A started, filled server and the harness's connections to it.</summary>
    private sealed class RunningSystem(string system, string server, string folder, int pid, IKvTarget target, PageCacheEvictor evictor)
    {
        public string System { get; } = system;
        public string Server { get; } = server;
        public string Folder { get; } = folder;
        public int Pid { get; } = pid;
        public IKvTarget Target { get; } = target;
        public PageCacheEvictor Evictor { get; } = evictor;
        public List<Dictionary<string, object?>> Rows { get; } = [];
    }

    private async Task<List<Cell>> RunSizeAsync(ScenarioContext context, ScenarioResult result, ByteSize size, long count, string? rawFile,
        Action<string> warn, CancellationToken ct)
    {
        int valueBytes = (int)size.Bytes;
        long dataBytes = count * valueBytes;
        var keys = new KeySet(count);
        var cells = new List<Cell>();
        var running = new List<RunningSystem>();
        try
        {
            for (int i = 0; i < _systems.Count; i++)
            {
                ct.ThrowIfCancellationRequested();
                // The node systems are separate node processes side by side: the n-th of them listens on the node port + n.
                int nodeIndex = _systems.Take(i).Count(s => s.StartsWith("node", StringComparison.Ordinal));
                var started = await StartSystemAsync(context, _systems[i], nodeIndex, size, count, keys, warn, ct);
                running.Add(started.System);
                var fillRow = AddPhaseRow(result, started.System.System, size, _fillConcurrency, "", "fill (100% SET)", started.Fill);
                fillRow["round"] = 0;
                fillRow["median_round"] = true;
                started.System.Rows.Add(fillRow);
                cells.Add(new Cell(started.System.System, size.Bytes, _fillConcurrency, "", "fill", 0, fillRow, started.Fill));
            }

            foreach (var distribution in _distributions)
            {
                var chooser = KeyChooser.Create(distribution, count, _theta);
                foreach (var mix in _mixes)
                {
                    foreach (int concurrency in _concurrency)
                    {
                        var phase = new List<Cell>();
                        for (int round = 1; round <= _rounds; round++)
                        {
                            // Rotated by an even share each round, so no system always follows the same one or runs first.
                            int offset = (round - 1) * running.Count / _rounds;
                            for (int i = 0; i < running.Count; i++)
                            {
                                var system = running[(offset + i) % running.Count];
                                var cell = await MeasurePhaseAsync(context, result, system, size, dataBytes, concurrency, distribution, chooser, mix, round, rawFile, warn, ct);
                                phase.Add(cell);
                            }
                        }
                        MarkMedianRounds(phase);
                        cells.AddRange(phase);
                    }
                }
            }
            foreach (var system in running)
            {
                if (system.Target is not MemcachedTarget memcached) continue;
                ServerPause.Resume(system.Pid);
                var stats = await memcached.StatsAsync(ct);
                ServerPause.Pause(system.Pid);
                string S(string name) => stats.GetValueOrDefault(name, "?");
                result.Notes.Add($"memcached {size}: evictions {S("evictions")}, extstore objects written {S("extstore_objects_written")}, " +
                                 $"read from extstore {S("get_extstore")}, extstore misses (item gone from the file) {S("miss_from_extstore")}, extstore bytes read {S("extstore_bytes_read")}");
            }
        }
        finally
        {
            // Every server is stopped even when one of them fails to stop.
            foreach (var system in running)
            {
                try
                {
                    await StopSystemAsync(context, system);
                }
                catch (Exception ex) when (ex is InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
                {
                    context.Progress($"{system.System}: stopping failed: {ex.Message}");
                }
            }
        }
        return cells;
    }

    private async Task<(RunningSystem System, PhaseStats Fill)> StartSystemAsync(ScenarioContext context, string system, int nodeIndex, ByteSize size, long count, KeySet keys,
        Action<string> warn, CancellationToken ct)
    {
        int valueBytes = (int)size.Bytes;
        long dataBytes = count * valueBytes;
        string server = system.StartsWith("node", StringComparison.Ordinal) ? "node" : system;
        string folder = Path.Combine(context.DataDirectory, $"{Suffix(size)}-{system}");
        context.Progress($"{size} {system}: start ({_ram} RAM, {dataBytes / 1e9:F2} GB working set)");
        PageCache.Drop(warn);
        var environment = server == "node" ? new Dictionary<string, string> { ["PEERS_NODE_PORT"] = (NodePort + nodeIndex).ToString(CultureInfo.InvariantCulture) } : null;
        var started = await PeersScript(context, ["start", server, folder, Mib(_ram.Bytes), Mib(dataBytes), .. server == "node" ? _nodeArgs : []], ct, environment);
        int pid = int.Parse(started["pid"], CultureInfo.InvariantCulture);
        IKvTarget? target = null;
        PageCacheEvictor? evictor = null;
        try
        {
            target = system switch
            {
                "node-uds" => new NodeTarget(system, "unix:" + Path.Combine(folder, "node.sock"), keys, _nodeFrameBytes, sharedBuffers: true),
                "node-uds-copy" => new NodeTarget(system, "unix:" + Path.Combine(folder, "node.sock"), keys, _nodeFrameBytes, sharedBuffers: false),
                "node-tcp" => new NodeTarget(system, $"http://127.0.0.1:{started["port"]}", keys, _nodeFrameBytes, sharedBuffers: false),
                "garnet" or "redis" when _redisClient == "se" => new RedisTarget(system, int.Parse(started["port"], CultureInfo.InvariantCulture), keys),
                "garnet" or "redis" => new RespTarget(system, int.Parse(started["port"], CultureInfo.InvariantCulture), keys),
                "memcached" => new MemcachedTarget(system, int.Parse(started["port"], CultureInfo.InvariantCulture), keys),
                _ => throw new InvalidOperationException(system),
            };
            await target.ConnectAsync(Math.Max(_fillConcurrency, _concurrency.Max()), ct);
            evictor = new PageCacheEvictor(folder, _evictPeriod);
            var running = new RunningSystem(system, server, folder, pid, target, evictor);

            context.Progress($"{size} {system}: fill {count} values");
            var fill = await FillAsync(target, valueBytes, count, pid, context.Machine.BlockDevice, ct);
            context.Progress($"  {fill.SetGBps:F2} GB/s, {fill.SetRefused} refused");
            if (_settle > TimeSpan.Zero)
            {
                context.Progress($"{size} {system}: settle {_settle.TotalSeconds:F0} s");
                await RunPhaseAsync(target, valueBytes, _concurrency.Max(), KeyChooser.Create("uniform", count, _theta), MixGetShare["read-heavy"], _settle,
                    dataBytes, pid, context.Machine.BlockDevice, ct);
            }
            ServerPause.Pause(pid);
            return (running, fill);
        }
        catch
        {
            evictor?.Dispose();
            if (target is not null) await target.DisposeAsync();
            await PeersScript(context, ["stop", server, folder], CancellationToken.None);
            if (!_keep && Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            throw;
        }
    }

    private async Task<Cell> MeasurePhaseAsync(ScenarioContext context, ScenarioResult result, RunningSystem system, ByteSize size, long dataBytes,
        int concurrency, string distribution, KeyChooser chooser, string mix, int round, string? rawFile, Action<string> warn, CancellationToken ct)
    {
        int valueBytes = (int)size.Bytes;
        PageCache.Drop(warn);
        var getShare = MixGetShare[mix];
        ServerPause.Resume(system.Pid);
        PhaseStats stats;
        try
        {
            if (_warmup > TimeSpan.Zero)
                await RunPhaseAsync(system.Target, valueBytes, concurrency, chooser, getShare, _warmup, dataBytes, system.Pid, context.Machine.BlockDevice, ct);
            stats = await RunPhaseAsync(system.Target, valueBytes, concurrency, chooser, getShare, _duration, dataBytes, system.Pid, context.Machine.BlockDevice, ct);
        }
        finally
        {
            ServerPause.Pause(system.Pid);
        }
        context.Progress($"{size} {system.System} c{concurrency} {distribution} {mix} round {round}: GET {stats.GetGBps:F2} GB/s ({stats.HitPct:F0}% hits), " +
                         $"SET {stats.SetGBps:F2} GB/s, server {stats.ServerCores:F2} cores");
        var row = AddPhaseRow(result, system.System, size, concurrency, distribution, mix, stats);
        row["round"] = round;
        // Only a phase that read its values from the disk (not a stray metadata read) gets the disk measured beside it.
        if (rawFile is not null && getShare >= 0.5 && stats.Disk.ReadBytes > stats.GetBytes / 100)
        {
            // The disk's own rate right now, beside the server's: this shared disk moves by tens of percent within minutes.
            var raw = RawDisk.RandomRead(rawFile, valueBytes, concurrency, _diskCheck, warn);
            row["raw_disk_after_gbps"] = raw.MBps / 1000;
            row["raw_disk_after_p99_ms"] = raw.Latency.P99Ms;
            context.Progress($"  raw disk right after: {raw.MBps / 1000:F2} GB/s random read at QD {concurrency}");
        }
        system.Rows.Add(row);
        if (stats.Mismatches > 0) result.Failures.Add($"{system.System} {size} c{concurrency} {distribution} {mix} round {round}: {stats.Mismatches} GETs returned wrong bytes");
        return new Cell(system.System, size.Bytes, concurrency, distribution, mix, round, row, stats);
    }

    /// <summary>Marks, per system, the round whose rate is the median of its rounds (the lower middle one for an even count).</summary>
    private static void MarkMedianRounds(List<Cell> phase)
    {
        foreach (var group in phase.GroupBy(c => c.System))
        {
            var ordered = group.OrderBy(c => c.GBps).ToList();
            var median = ordered[(ordered.Count - 1) / 2];
            foreach (var cell in ordered) cell.Row["median_round"] = ReferenceEquals(cell, median);
        }
    }

    private async Task StopSystemAsync(ScenarioContext context, RunningSystem system)
    {
        try
        {
            ServerPause.Resume(system.Pid);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            context.Progress($"{system.System}: {ex.Message}: {ex.NativeErrorCode}");
        }
        system.Evictor.Dispose();
        try
        {
            await system.Target.DisposeAsync();
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or OperationCanceledException)
        {
            context.Progress($"{system.System}: closing the connections: {ex.Message}");
        }
        long peak = ProcessStats.PeakRssBytes(system.Pid);
        foreach (var row in system.Rows)
        {
            row["server_peak_rss_mib"] = peak / (1024.0 * 1024);
            row["rss_vs_ram_budget"] = (double)peak / _ram.Bytes;
        }
        long folderBytes = FolderBytes(system.Folder);
        if (system.Rows.Count > 0) system.Rows[0]["disk_used_gb"] = folderBytes / 1e9;
        await PeersScript(context, ["stop", system.Server, system.Folder], CancellationToken.None);
        if (!_keep && Directory.Exists(system.Folder)) Directory.Delete(system.Folder, recursive: true);
    }
}
