using System.Globalization;

namespace CheckpointCache.Node.Cli;

/// <summary>Asks how much of a prompt's prefix is cached, optionally pinning it.</summary>
internal static class LookupCommand
{
    public static readonly HashSet<string> Options = ["--endpoint", "--timeout", "--tokens", "--pin-ms"];

    public const string Help =
        "usage: checkpointcache lookup NS (--tokens T1,T2,... | KEY...) [--pin-ms N] [--endpoint E] [--timeout SECONDS]\n\n" +
        "Prints the length of the longest cached prefix and the tier of each of its blocks. With --tokens the block\n" +
        "keys are computed from token ids by the key spec (docs/key-spec.md), which needs NS as a descriptor; otherwise\n" +
        "the KEYs are given in prefix order. --pin-ms keeps the found prefix from eviction that long.\n\n" +
        NamespaceArgument.Help + "\n" + KeyArgument.Help + "\n\n" + ClientConnection.Help + "\n\n" +
        "example: checkpointcache lookup model=demo,tokens_per_block=2 --tokens 1,2,3,4,5 --pin-ms 5000";

    public static async Task<int> RunAsync(CliArguments args, TextWriter output)
    {
        if (args.Positionals.Count < 1) throw new CliException("lookup needs NS and --tokens or KEYs");
        using var client = ClientConnection.Connect(args);
        var ns = await NamespaceArgument.ResolveAsync(args.Positionals[0], client, CancellationToken.None);
        List<ReadOnlyMemory<byte>> keys;
        if (args.Option("--tokens") is { } tokenText)
        {
            if (args.Positionals.Count > 1) throw new CliException("give either --tokens or KEYs, not both");
            if (ns.Descriptor is null) throw new CliException("--tokens needs NS written as a descriptor (model=...,tokens_per_block=...) to compute block keys");
            var tokens = tokenText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(t => uint.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : throw new CliException($"token id '{t}' is not a number below 2^32"))
                .ToArray();
            keys = ns.BlockKeys(tokens).Select(k => (ReadOnlyMemory<byte>)k).ToList();
        }
        else
        {
            keys = args.Positionals.Skip(1).Select(k => (ReadOnlyMemory<byte>)KeyArgument.Parse(k)).ToList();
        }
        if (keys.Count == 0) throw new CliException("no keys to look up (fewer tokens than one block?)");
        TimeSpan? pin = null;
        if (args.Option("--pin-ms") is { } pinText)
            pin = uint.TryParse(pinText, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) ? TimeSpan.FromMilliseconds(ms) : throw new CliException("--pin-ms must be a whole number");

        var result = await client.LookupAsync(ns, keys, pin);
        output.WriteLine($"cached prefix: {result.PrefixLength} of {keys.Count} blocks");
        for (int i = 0; i < result.Tiers.Count; i++)
            output.WriteLine($"  block {i,4}  {Convert.ToHexStringLower(keys[i].Span)}  {result.Tiers[i].ToString().ToLowerInvariant()}");
        if (result.PinnedUntil is { } until) output.WriteLine($"pinned until {until.ToLocalTime():yyyy-MM-dd HH:mm:ss.fff}");
        return 0;
    }
}
