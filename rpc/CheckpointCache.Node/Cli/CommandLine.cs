using Grpc.Core;

namespace CheckpointCache.Node.Cli;

/// <summary>The node executable's verbs: serve (the default), status, drain, put, get, lookup, prefetch.</summary>
public static class CommandLine
{
    public const string Usage =
        "CheckpointCache node: a RAM+SSD cache for KV-cache blocks, served over gRPC.\n\n" +
        "usage: checkpointcache [VERB] [ARGS] [--Section:Key=value ...]\n\n" +
        "verbs:\n" +
        "  serve     run a node (the default when no verb is given)\n" +
        "  status    show a node's state, throughput, latency, stores, hit rates, cluster and writeback\n" +
        "  drain     take a node out of service (no new writes, commit, leave the cluster), keep it running\n" +
        "  put       store a value:            put NS KEY FILE|-\n" +
        "  get       fetch a value:            get NS KEY [FILE]\n" +
        "  lookup    longest cached prefix:    lookup NS --tokens 1,2,3 [--pin-ms N]\n" +
        "  prefetch  warm from the cloud tier: prefetch PREFIX [--store S] (progress bar)\n\n" +
        "'checkpointcache VERB --help' explains a verb. Settings: docs/configuration.md. API: docs/api.md.";

    public static async Task<int> RunAsync(string[] args)
    {
        var verb = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "serve";
        var rest = args.Length > 0 && !args[0].StartsWith('-') ? args[1..] : args;
        if (args.Length > 0 && args[0] is "--help" or "-h" or "help")
        {
            Console.Out.WriteLine(Usage);
            return 0;
        }
        try
        {
            return verb switch
            {
                "serve" => await Run(rest, new HashSet<string>(), ServeCommand.Help, ServeCommand.RunAsync),
                "status" => await Run(rest, StatusCommand.Options, StatusCommand.Help, a => StatusCommand.RunAsync(a, Console.Out)),
                "put" => await Run(rest, ClientConnection.Options, PutCommand.Help, a => PutCommand.RunAsync(a, Console.Out, Console.Error)),
                "get" => await Run(rest, ClientConnection.Options, GetCommand.Help, a => GetCommand.RunAsync(a, Console.Error)),
                "drain" => await Run(rest, ClientConnection.Options, DrainCommand.Help, a => DrainCommand.RunAsync(a, Console.Out)),
                "lookup" => await Run(rest, LookupCommand.Options, LookupCommand.Help, a => LookupCommand.RunAsync(a, Console.Out)),
                "prefetch" => await Run(rest, PrefetchCommand.Options, PrefetchCommand.Help, a => PrefetchCommand.RunAsync(a, Console.Out, Console.Error)),
                _ => throw new CliException($"unknown verb '{verb}'"),
            };
        }
        catch (CliException e)
        {
            Console.Error.WriteLine($"checkpointcache: {e.Message}");
            Console.Error.WriteLine("Try 'checkpointcache --help'.");
            return 2;
        }
        catch (RpcException e)
        {
            Console.Error.WriteLine($"checkpointcache: the node answered {e.StatusCode}: {e.Status.Detail}");
            return 1;
        }
    }

    private static async Task<int> Run(string[] args, IReadOnlySet<string> options, string help, Func<CliArguments, Task<int>> command)
    {
        var parsed = CliArguments.Parse(args, options);
        if (parsed.Help)
        {
            Console.Out.WriteLine(help);
            return 0;
        }
        return await command(parsed);
    }
}
