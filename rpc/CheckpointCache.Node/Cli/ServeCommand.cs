using CheckpointCache.Node.Hosting;
using CheckpointCache.Node.Lifecycle;

namespace CheckpointCache.Node.Cli;

/// <summary>Runs the node in the foreground until SIGTERM or Ctrl+C.</summary>
internal static class ServeCommand
{
    public const string Help =
        "usage: checkpointcache [serve] [--Section:Key=value ...]\n\n" +
        "Runs a node in the foreground until Ctrl+C or SIGTERM, which drain it (no new writes, in-flight ones finish,\n" +
        "commit, leave the cluster) and stop it within Node:ShutdownTimeout (exit 0; 3: drain incomplete; 4: timed out).\n" +
        "With no configuration it keeps its data in ./data (SSD-only, no cloud), listens on the Unix socket\n" +
        "./data/node.sock and on http://127.0.0.1:7400, and serves Prometheus metrics at http://127.0.0.1:7401/metrics\n" +
        "and probes at /healthz/live and /healthz/ready. Every setting (docs/configuration.md) can come from appsettings.json,\n" +
        "environment variables (Node__TcpPort=7401) or the command line (--Node:TcpPort=7401).";

    public static async Task<int> RunAsync(CliArguments args)
    {
        if (args.Positionals.Count > 0) throw new CliException($"serve takes no arguments besides --Section:Key=value settings, got '{args.Positionals[0]}'");
        NodeApplication node;
        try
        {
            node = await NodeApplication.StartAsync([.. args.ConfigurationArgs]);
        }
        catch (NodeConfigurationException)
        {
            return ExitCodes.ConfigurationError; // already logged, one line per error
        }
        // Drains, stops and disposes the node on SIGTERM or Ctrl+C (docs/operations.md, exit codes).
        return await node.RunUntilStoppedAsync();
    }
}
