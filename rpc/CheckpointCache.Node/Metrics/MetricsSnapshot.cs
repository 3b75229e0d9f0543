using System.Globalization;
using Prometheus;

namespace CheckpointCache.Node.Metrics;

/// <summary>
/// The node's registry as a scrape would see it, parsed into samples: the status RPC reports from the same
/// numbers Prometheus gets, so `checkpointcache status` and the dashboard cannot disagree.
/// </summary>
public sealed class MetricsSnapshot
{
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    private MetricsSnapshot(List<Sample> samples) => Samples = samples;

    public IReadOnlyList<Sample> Samples { get; }

    public static async Task<MetricsSnapshot> CollectAsync(CollectorRegistry registry, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(buffer, ct).ConfigureAwait(false);
        buffer.Position = 0;
        using var reader = new StreamReader(buffer);
        var samples = new List<Sample>();
        while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
            if (Parse(line) is { } sample) samples.Add(sample);
        return new MetricsSnapshot(samples);
    }

    public IEnumerable<Sample> Named(string name) => Samples.Where(s => s.Name == name);

    /// <summary>One line of the text exposition format: name{a="x",b="y"} value; comments and blank lines give null.</summary>
    internal static Sample? Parse(string line)
    {
        if (line.Length == 0 || line[0] == '#') return null;
        int brace = line.IndexOf('{');
        int space = line.IndexOf(' ');
        if (space < 0) return null;
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        string name;
        int rest;
        if (brace >= 0 && brace < space)
        {
            name = line[..brace];
            int i = brace + 1;
            while (i < line.Length && line[i] != '}')
            {
                int eq = line.IndexOf('=', i);
                var key = line[i..eq];
                i = eq + 2; // past ="
                var value = new System.Text.StringBuilder();
                while (line[i] != '"')
                {
                    if (line[i] == '\\') { i++; value.Append(line[i] == 'n' ? '\n' : line[i]); }
                    else value.Append(line[i]);
                    i++;
                }
                labels[key] = value.ToString();
                i++; // past the closing quote
                if (i < line.Length && line[i] == ',') i++;
            }
            rest = i + 1;
        }
        else
        {
            name = line[..space];
            rest = space;
        }
        var valueText = line[rest..].Trim().Split(' ')[0];
        double v = valueText switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            _ => double.Parse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture),
        };
        return new Sample(name, labels, v);
    }
}
