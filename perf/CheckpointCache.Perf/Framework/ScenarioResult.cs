namespace CheckpointCache.Perf.Framework;

/// <summary>The rows, ratios and notes a scenario reports; rendered as a markdown table and as JSON.</summary>
public sealed class ScenarioResult
{
    private readonly List<(string Key, string Header)> _columns = [];

    /// <summary>Column keys (JSON) and headers (markdown), in display order.</summary>
    public IReadOnlyList<(string Key, string Header)> Columns => _columns;

    public List<Dictionary<string, object?>> Rows { get; } = [];

    /// <summary>Headline ratios, e.g. engine throughput over raw disk throughput.</summary>
    public SortedDictionary<string, double> Ratios { get; } = new(StringComparer.Ordinal);

    /// <summary>Caveats the reader must know (page cache not dropped, fallbacks taken...).</summary>
    public List<string> Notes { get; } = [];

    /// <summary>Correctness failures (wrong bytes, lost values): the run exits non-zero when there are any.</summary>
    public List<string> Failures { get; } = [];

    /// <summary>Declares a column; rows may leave it empty.</summary>
    public ScenarioResult Column(string key, string header)
    {
        if (!_columns.Any(c => c.Key == key)) _columns.Add((key, header));
        return this;
    }

    public Dictionary<string, object?> AddRow()
    {
        var row = new Dictionary<string, object?>(StringComparer.Ordinal);
        Rows.Add(row);
        return row;
    }
}
