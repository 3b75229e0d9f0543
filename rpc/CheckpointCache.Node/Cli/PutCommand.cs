namespace CheckpointCache.Node.Cli;

/// <summary>Stores one value from a file or standard input.</summary>
internal static class PutCommand
{
    public const string Help =
        "usage: checkpointcache put NS KEY FILE|- [--endpoint E] [--timeout SECONDS]\n\n" +
        "Stores the bytes of FILE (or standard input for -) as KEY in namespace NS, streamed in 1 MiB frames.\n\n" +
        NamespaceArgument.Help + "\n" + KeyArgument.Help + "\n\n" + ClientConnection.Help + "\n\n" +
        "example: checkpointcache put model=demo,dtype=bf16 block-0 ./block0.bin";

    public static async Task<int> RunAsync(CliArguments args, TextWriter output, TextWriter error)
    {
        if (args.Positionals.Count != 3) throw new CliException("put needs NS KEY FILE|-");
        var key = KeyArgument.Parse(args.Positionals[1]);
        using var client = ClientConnection.Connect(args);
        var ns = await NamespaceArgument.ResolveAsync(args.Positionals[0], client, CancellationToken.None);

        Stream value;
        if (args.Positionals[2] == "-")
        {
            // The length goes first on the wire, so standard input is read whole (values are at most MaxValueBytes).
            var buffered = new MemoryStream();
            await Console.OpenStandardInput().CopyToAsync(buffered);
            buffered.Position = 0;
            value = buffered;
        }
        else
        {
            if (!File.Exists(args.Positionals[2])) throw new CliException($"no such file: {args.Positionals[2]}");
            value = new FileStream(args.Positionals[2], FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, useAsync: true);
        }
        await using (value)
        {
            var result = await client.PutStreamAsync(ns, key, value, value.Length);
            if (!result.Ok)
            {
                error.WriteLine($"put failed: {result.Code}: {result.Message}");
                return 1;
            }
            output.WriteLine($"stored {value.Length} bytes in {ns}");
            return 0;
        }
    }
}
