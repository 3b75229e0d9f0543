namespace CheckpointCache.Engine.Storage;

/// <summary>
/// Caps what promotion writes at a share of what SSD hits read (Engine:Namespaces:*:PromoteBudget). Every SSD hit
/// earns its bytes times the share; a promotion spends the value's bytes. Under uniform reads of a working set
/// larger than RAM, promoting only swaps which values sit in RAM, so without a cap a read-only workload becomes a
/// write workload of almost the same size; keys read most are also the ones most often eligible, so a skewed
/// workload still gets its hot values into RAM, at the capped rate.
/// </summary>
internal sealed class PromotionBudget(double share, long burstBytes)
{
    private long _tokens;

    /// <summary>Whether the next eligible SSD hit may be promoted (approximate under concurrency: at most a few values over).</summary>
    public bool Allows => share >= 1 || (share > 0 && Volatile.Read(ref _tokens) > 0);

    /// <summary>Accounts an SSD hit of <paramref name="bytes"/>, promoted or not.</summary>
    public void Note(long bytes, bool promoted)
    {
        if (share >= 1) return;
        long after = Interlocked.Add(ref _tokens, (long)(bytes * share) - (promoted ? bytes : 0));
        // Unspent budget does not pile up into a burst of promotions later.
        if (after > burstBytes) Interlocked.CompareExchange(ref _tokens, burstBytes, after);
    }
}
