using System.Globalization;

namespace CheckpointCache.Node.Cli;

/// <summary>Takes a node out of service without stopping it (the same steps SIGTERM runs before it exits).</summary>
internal static class DrainCommand
{
    public const string Help =
        "usage: checkpointcache drain [--endpoint E] [--timeout SECONDS]\n\n" +
        "Drains the node: new writes are refused (UNAVAILABLE, naming the drain), writes in flight finish, the node\n" +
        "leaves the cluster (etcd lease revoked, so peers rebalance now) and hands over copies no other member holds,\n" +
        "pending cloud writeback is flushed and the engine commits. Reads are still served; /healthz/ready answers 503\n" +
        "from the start, /healthz/live stays 200. The process keeps running: stop it (SIGTERM) or restart it to serve\n" +
        "again. Exit code 0 when every step completed, 1 otherwise (state incomplete; the notes say which step).\n\n" +
        "  --endpoint E       as for status\n" +
        "  --timeout SECONDS  how long to wait for the drain (default 120; the node bounds it by Node:ShutdownTimeout)";

    public static async Task<int> RunAsync(CliArguments args, TextWriter output)
    {
        if (args.Positionals.Count > 0) throw new CliException("drain takes no positional arguments");
        var timeout = TimeSpan.FromSeconds(120);
        if (args.Option("--timeout") is { } t)
            timeout = double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0
                ? TimeSpan.FromSeconds(s) : throw new CliException($"--timeout must be a positive number of seconds, got '{t}'");
        using var client = ClientConnection.Connect(args);
        var r = await client.DrainAsync(timeout);
        output.WriteLine($"state          {r.State} (took {r.Seconds:F3} s)");
        output.WriteLine($"writes waited  {r.WritesWaited}");
        output.WriteLine($"left cluster   {(r.LeftCluster ? "yes (lease revoked)" : "no (not in a cluster, or see notes)")}");
        output.WriteLine($"handed off     {r.KeysHandedOff} keys");
        output.WriteLine($"committed      {(r.Committed ? "yes" : "no")}");
        foreach (var note in r.Notes) output.WriteLine($"note           {note}");
        return r.State == "drained" ? 0 : 1;
    }
}
