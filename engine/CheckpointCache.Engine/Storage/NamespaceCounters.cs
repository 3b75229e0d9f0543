namespace CheckpointCache.Engine.Storage;

/// <summary>Lock-free counters behind <see cref="NamespaceStats"/>.</summary>
internal sealed class NamespaceCounters
{
    public long RamHits, SsdHits, Misses, RamBytesRead, SsdBytesRead;
    public long Puts, BytesWritten, Deletes;
    public long Evictions, EvictedBytes, CorruptionEvents, OutOfSpaceRejections, Commits;
    public long CompactedLogBytes, CompactionFreedBytes;

    public void Hit(Tier tier, long bytes)
    {
        if (tier == Tier.Ram) { Interlocked.Increment(ref RamHits); Interlocked.Add(ref RamBytesRead, bytes); }
        else { Interlocked.Increment(ref SsdHits); Interlocked.Add(ref SsdBytesRead, bytes); }
    }

    public void Miss() => Interlocked.Increment(ref Misses);
    public void Corruption() => Interlocked.Increment(ref CorruptionEvents);
    public void Put(long bytes) { Interlocked.Increment(ref Puts); Interlocked.Add(ref BytesWritten, bytes); }
    public void Delete() => Interlocked.Increment(ref Deletes);
    public void OutOfSpace() => Interlocked.Increment(ref OutOfSpaceRejections);
    public void Evicted(long bytes) { Interlocked.Increment(ref Evictions); Interlocked.Add(ref EvictedBytes, bytes); }
    public void Compacted(long logBytes, long freed) { Interlocked.Add(ref CompactedLogBytes, logBytes); Interlocked.Add(ref CompactionFreedBytes, freed); }
    public void Committed() => Interlocked.Increment(ref Commits);
}
