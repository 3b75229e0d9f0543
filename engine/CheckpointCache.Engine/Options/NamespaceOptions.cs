namespace CheckpointCache.Engine.Options;

/// <summary>
/// The policy of one configured namespace. Each configured namespace is its own FASTER store
/// with its own RAM and SSD budget, so a checkpoint burst in a files namespace cannot push hot
/// KV blocks out of RAM.
/// </summary>
public sealed class NamespaceOptions
{
    public NamespaceKind Kind { get; set; } = NamespaceKind.Kv;

    /// <summary>RAM tier: the hybrid log's in-memory region (rounded up to whole pages, at least 4 pages).</summary>
    public ByteSize RamBytes { get; set; } = ByteSize.FromMiB(512);

    /// <summary>SSD tier: what the namespace's folder may occupy on disk (as du counts it).</summary>
    public ByteSize SsdBytes { get; set; } = ByteSize.FromGiB(16);

    /// <summary>
    /// Evictable namespaces drop their oldest data to stay within SsdBytes; pinned ones refuse writes
    /// with an out-of-space error instead. Null means: true for kv, false for files.
    /// </summary>
    public bool? Evictable { get; set; }

    /// <summary>Copy SSD hits back to the RAM tier (rewrites the value at the log tail). Null means: true for kv.</summary>
    public bool? PromoteOnHit { get; set; }

    /// <summary>
    /// SSD hits of a value (recent enough to be remembered) before it is promoted: 2 promotes on the second read,
    /// so a value read once stays where it is; 1 promotes every SSD hit.
    /// </summary>
    public int PromoteAfterHits { get; set; } = 2;

    /// <summary>
    /// Most bytes promotion may write per byte that SSD hits read: 0.2 adds at most a fifth of the SSD read traffic
    /// as writes; 1 or more removes the cap; 0 stops promotion. Values are promoted while the budget lasts.
    /// </summary>
    public double PromoteBudget { get; set; } = 0.2;

    /// <summary>
    /// An SSD hit promotes only a value read at least this many times as often lately as the oldest value in RAM, the
    /// one the promotion pushes out to SSD (reads counted in a fixed-size sketch that forgets by halving). Under
    /// uniform reads no value is, so promotion, which would only swap equally read values at the cost of disk
    /// writes, stops; hot values of a skewed workload still come back. 0 turns the comparison off.
    /// </summary>
    public double PromoteFrequencyRatio { get; set; } = 2;

    /// <summary>Largest payload kept in one record; bigger values become chunks plus a manifest.</summary>
    public ByteSize ChunkBytes { get; set; } = new(8 * ByteSize.MiB - ByteSize.KiB);

    /// <summary>Log page size; a record never straddles pages, so it must exceed ChunkBytes plus headers.</summary>
    public ByteSize PageBytes { get; set; } = ByteSize.FromMiB(32);

    /// <summary>Log segment (file) size: the unit in which SSD space is given back.</summary>
    public ByteSize SegmentBytes { get; set; } = ByteSize.FromMiB(256);

    /// <summary>Typical value size: the first disk read fetches this much, so most reads take one I/O.</summary>
    public ByteSize ReadHintBytes { get; set; } = ByteSize.FromMiB(1);

    /// <summary>
    /// Allocate and zero the whole RAM tier when the store opens instead of page by page as the log first fills. The
    /// first pass of writes otherwise pays for it: fresh pinned pages and their zeroing took over a third of the
    /// node's CPU while a files store took its first 512 MiB, and 38-46% of the engine's CPU while a kv store took
    /// its first working set. The process then holds its RAM budget from the start, which the budget allows for anyway.
    /// Null means on.
    /// </summary>
    public bool? PreallocateRam { get; set; }

    /// <summary>
    /// Share of the RAM tier FASTER keeps mutable, i.e. not yet flushed to the SSD tier. The engine never updates a
    /// record in place (a new version is always appended), so a mutable region only delays flushes: with 0 a page is
    /// flushed as soon as the tail leaves it, which leaves the whole RAM tier to absorb flush latency and leaves at
    /// most the tail page to flush when a commit comes.
    /// </summary>
    public double MutableFraction { get; set; }

    /// <summary>Hash index buckets (64 bytes each); 0 sizes it from SsdBytes / 256KiB.</summary>
    public long IndexBuckets { get; set; }

    public bool IsEvictable => Evictable ?? Kind == NamespaceKind.Kv;
    public bool IsPromoteOnHit => PromoteOnHit ?? Kind == NamespaceKind.Kv;
    public bool IsPreallocateRam => PreallocateRam ?? true;

    public NamespaceOptions Clone() => (NamespaceOptions)MemberwiseClone();
}
