namespace CheckpointCache.Engine.Files;

/// <summary>Which bytes of a staged block were written: sorted, merged [start, end) intervals.</summary>
internal sealed class ByteRanges
{
    private readonly List<(int Start, int End)> _ranges = [];

    public IReadOnlyList<(int Start, int End)> Ranges => _ranges;
    public bool IsEmpty => _ranges.Count == 0;

    public void Add(int start, int end)
    {
        if (end <= start) return;
        int i = 0;
        while (i < _ranges.Count && _ranges[i].End < start) i++;
        int s = start, e = end;
        while (i < _ranges.Count && _ranges[i].Start <= end)
        {
            s = Math.Min(s, _ranges[i].Start);
            e = Math.Max(e, _ranges[i].End);
            _ranges.RemoveAt(i);
        }
        _ranges.Insert(i, (s, e));
    }

    public bool Covers(int start, int end)
        => _ranges.Any(r => r.Start <= start && r.End >= end);

    public void Clear() => _ranges.Clear();

    /// <summary>Keeps only bytes below <paramref name="limit"/>.</summary>
    public void TrimTo(int limit)
    {
        for (int i = _ranges.Count - 1; i >= 0; i--)
        {
            var (s, e) = _ranges[i];
            if (s >= limit) _ranges.RemoveAt(i);
            else if (e > limit) _ranges[i] = (s, limit);
        }
    }
}
