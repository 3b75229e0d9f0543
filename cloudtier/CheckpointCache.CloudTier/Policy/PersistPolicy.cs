using System.Text;
using System.Text.RegularExpressions;
using CheckpointCache.CloudTier.Options;

namespace CheckpointCache.CloudTier.Policy;

/// <summary>A compiled <see cref="PersistOptions"/>: decides from a file's path alone whether it is uploaded.</summary>
internal sealed class PersistPolicy
{
    private readonly PersistOptions _options;
    private readonly Regex[] _patterns;
    private readonly Regex _step;

    public PersistPolicy(PersistOptions options)
    {
        _options = options;
        _patterns = options.Patterns.Select(p => new Regex(GlobToRegex(p), RegexOptions.CultureInvariant)).ToArray();
        _step = new Regex(options.StepPattern, RegexOptions.CultureInvariant);
    }

    public bool Selects(string path) => _options.Kind switch
    {
        PersistKind.All => true,
        PersistKind.Patterns => MatchesPattern(path),
        PersistKind.EveryNthCheckpointDirectory => MatchesPattern(path) || InSelectedCheckpoint(path),
        _ => false,
    };

    private bool MatchesPattern(string path) => _patterns.Any(p => p.IsMatch(path));

    private bool InSelectedCheckpoint(string path)
    {
        var names = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        // The checkpoint directory must be a directory: a file at that depth is not in one.
        if (names.Length <= _options.DirectoryDepth) return false;
        var match = _step.Match(names[_options.DirectoryDepth - 1]);
        if (!match.Success || !long.TryParse(match.Groups[1].Value, out var step)) return false;
        return step / _options.StepInterval % _options.N == 0;
    }

    /// <summary>'**' any characters, '*' any but '/', '?' one but '/', the rest literal; anchored at both ends.</summary>
    internal static string GlobToRegex(string glob)
    {
        var sb = new StringBuilder("^");
        for (int i = 0; i < glob.Length; i++)
        {
            char c = glob[i];
            if (c == '*' && i + 1 < glob.Length && glob[i + 1] == '*')
            {
                // "**/" also matches no directory at all.
                if (i + 2 < glob.Length && glob[i + 2] == '/') { sb.Append("(?:.*/)?"); i += 2; }
                else { sb.Append(".*"); i++; }
            }
            else if (c == '*') sb.Append("[^/]*");
            else if (c == '?') sb.Append("[^/]");
            else sb.Append(Regex.Escape(c.ToString()));
        }
        return sb.Append('$').ToString();
    }
}
