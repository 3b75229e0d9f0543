using System.Globalization;
using System.Text;

namespace CheckpointCache.Perf.Framework;

/// <summary>Renders a result as a GitHub markdown table.</summary>
public static class MarkdownTable
{
    public static string Render(ScenarioResult result)
    {
        var columns = result.Columns.Where(c => result.Rows.Any(r => r.ContainsKey(c.Key))).ToList();
        var sb = new StringBuilder();
        sb.Append("| ").AppendJoin(" | ", columns.Select(c => c.Header)).AppendLine(" |");
        sb.Append('|').AppendJoin('|', columns.Select(_ => "---")).AppendLine("|");
        foreach (var row in result.Rows)
        {
            sb.Append("| ").AppendJoin(" | ", columns.Select(c => Format(row.GetValueOrDefault(c.Key)))).AppendLine(" |");
        }
        return sb.ToString();
    }

    /// <summary>Three significant figures at most: more would claim a precision the runs do not have.</summary>
    public static string Format(object? value) => value switch
    {
        null => "",
        double d when double.IsNaN(d) => "",
        double d when Math.Abs(d) >= 100 => d.ToString("F0", CultureInfo.InvariantCulture),
        double d when Math.Abs(d) >= 10 => d.ToString("F1", CultureInfo.InvariantCulture),
        double d => d.ToString("F2", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
