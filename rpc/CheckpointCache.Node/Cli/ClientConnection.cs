using System.Globalization;
using CheckpointCache.Client;
using CheckpointCache.Engine.Options;
using CheckpointCache.Node.Options;
using Microsoft.Extensions.Configuration;

namespace CheckpointCache.Node.Cli;

/// <summary>
/// How a client verb finds its node: --endpoint if given, else the node the same configuration would
/// start (its Unix socket if the file is there, else its TCP port).
/// </summary>
internal static class ClientConnection
{
    public static readonly HashSet<string> Options = ["--endpoint", "--timeout"];

    public const string Help =
        "  --endpoint E       unix:/path/node.sock or http://127.0.0.1:7400 (default: the socket of the node this\n" +
        "                     configuration starts, else its TCP port; env CHECKPOINTCACHE_ENDPOINT)\n" +
        "  --timeout SECONDS  deadline of each call (default 30)";

    public static CacheClient Connect(CliArguments args)
    {
        var endpoint = args.Option("--endpoint") ?? Environment.GetEnvironmentVariable("CHECKPOINTCACHE_ENDPOINT") ?? DefaultEndpoint(args.ConfigurationArgs);
        var options = new CacheClientOptions();
        if (args.Option("--timeout") is { } t)
        {
            if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || seconds <= 0)
                throw new CliException($"--timeout must be a positive number of seconds, got '{t}'");
            options.CallTimeout = TimeSpan.FromSeconds(seconds);
        }
        try
        {
            return CacheClient.Connect(endpoint, options);
        }
        catch (FormatException e)
        {
            throw new CliException(e.Message);
        }
    }

    private static string DefaultEndpoint(IReadOnlyList<string> configurationArgs)
    {
        var config = new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .AddEnvironmentVariables(Hosting.NodeApplication.EnvironmentPrefix)
            .AddCommandLine([.. configurationArgs])
            .Build();
        var node = config.GetSection(NodeOptions.Section).Get<NodeOptions>() ?? new NodeOptions();
        var engine = config.GetSection(EngineOptions.Section).Get<EngineOptions>() ?? new EngineOptions();
        var socket = string.IsNullOrWhiteSpace(node.UnixSocketPath) ? Path.Combine(Path.GetFullPath(engine.DataDirectory), "node.sock") : Path.GetFullPath(node.UnixSocketPath);
        if (node.UnixSocketEnabled && File.Exists(socket)) return "unix:" + socket;
        var host = string.IsNullOrWhiteSpace(node.TcpAddress) ? "127.0.0.1" : node.TcpAddress;
        return $"{(node.Tls.IsConfigured ? "https" : "http")}://{host}:{node.TcpPort}";
    }
}
