using Grpc.Core;

namespace CheckpointCache.Node.Cli;

/// <summary>Fetches one value into a file or standard output.</summary>
internal static class GetCommand
{
    public const string Help =
        "usage: checkpointcache get NS KEY [FILE] [--endpoint E] [--timeout SECONDS]\n\n" +
        "Writes the value of KEY to FILE, or to standard output. Exit code 0 on a hit, 1 on a miss.\n\n" +
        NamespaceArgument.Help + "\n" + KeyArgument.Help + "\n\n" + ClientConnection.Help;

    public static async Task<int> RunAsync(CliArguments args, TextWriter error)
    {
        if (args.Positionals.Count is < 2 or > 3) throw new CliException("get needs NS KEY [FILE]");
        var key = KeyArgument.Parse(args.Positionals[1]);
        using var client = ClientConnection.Connect(args);
        var ns = await NamespaceArgument.ResolveAsync(args.Positionals[0], client, CancellationToken.None);
        var result = (await client.BatchGetAsync(ns, [key]))[0];
        if (!result.Hit)
        {
            error.WriteLine(result.Code == StatusCode.NotFound ? "miss: " + result.Message : $"get failed: {result.Code}: {result.Message}");
            return 1;
        }
        if (args.Positionals.Count == 3)
        {
            await File.WriteAllBytesAsync(args.Positionals[2], result.Value!);
            error.WriteLine($"{result.Value!.Length} bytes from the {result.Tier.ToString().ToLowerInvariant()} tier written to {args.Positionals[2]}");
        }
        else
        {
            await using var stdout = Console.OpenStandardOutput();
            await stdout.WriteAsync(result.Value);
        }
        return 0;
    }
}
