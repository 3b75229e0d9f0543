namespace CheckpointCache.Node.Cli;

/// <summary>
/// A verb's arguments: positionals, its own --options, and configuration overrides (--Section:Key=value)
/// which go to the configuration system unchanged.
/// </summary>
internal sealed class CliArguments
{
    public List<string> Positionals { get; } = [];
    public Dictionary<string, string> Options { get; } = new(StringComparer.Ordinal);
    public List<string> ConfigurationArgs { get; } = [];
    public bool Help { get; private set; }

    /// <param name="valueOptions">Options of this verb that take a value, e.g. "--endpoint".</param>
    public static CliArguments Parse(IEnumerable<string> args, IReadOnlySet<string> valueOptions)
    {
        var parsed = new CliArguments();
        var queue = new Queue<string>(args);
        while (queue.Count > 0)
        {
            var arg = queue.Dequeue();
            if (arg is "-h" or "--help") { parsed.Help = true; continue; }
            if (arg == "-" || !arg.StartsWith("--", StringComparison.Ordinal)) { parsed.Positionals.Add(arg); continue; }
            var name = arg;
            string? value = null;
            int eq = arg.IndexOf('=');
            if (eq > 0) { name = arg[..eq]; value = arg[(eq + 1)..]; }
            if (name.Contains(':'))
            {
                // --Node:TcpPort=7401 or --Node:TcpPort 7401
                parsed.ConfigurationArgs.Add(arg);
                if (value is null && queue.Count > 0 && !queue.Peek().StartsWith("--", StringComparison.Ordinal)) parsed.ConfigurationArgs.Add(queue.Dequeue());
                continue;
            }
            if (!valueOptions.Contains(name)) throw new CliException($"unknown option {name}");
            if (value is null)
            {
                if (queue.Count == 0) throw new CliException($"{name} needs a value");
                value = queue.Dequeue();
            }
            parsed.Options[name] = value;
        }
        return parsed;
    }

    public string? Option(string name) => Options.TryGetValue(name, out var v) ? v : null;
}
