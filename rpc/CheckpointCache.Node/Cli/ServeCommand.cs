using CheckpointCache.Node.Hosting;

namespace CheckpointCache.Node.Cli;

/// <summary>Runs the node in the foreground until SIGTERM or Ctrl+C.</summary>
internal static class ServeCommand
{
    public const string Help =
        "usage: checkpointcache [serve] [--Section:Key=value ...]\n\n" +
        "Runs a node in the foreground until Ctrl+C or SIGTERM. With no configuration it keeps its data in ./data\n" +
        "(SSD-only, no cloud), listens on the Unix socket ./data/node.sock and on http://127.0.0.1:7400, and serves\n" +
        "Prometheus metrics at /metrics on both. Every setting (docs/configuration.md) can come from appsettings.json,\n" +
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
            return 2; // already logged, one line per error
        }
        await using (node)
        {
            await node.WaitForShutdownAsync();
        }
        return 0;
    }
}
