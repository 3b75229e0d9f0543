namespace CheckpointCache.Engine.Options;

/// <summary>Engine settings, bound from the "Engine" configuration section.</summary>
public sealed class EngineOptions
{
    public const string Section = "Engine";

    /// <summary>Where every namespace keeps its log segments and checkpoints.</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>Largest value (KV block or file object) accepted.</summary>
    public ByteSize MaxValueBytes { get; set; } = ByteSize.FromMiB(64);

    /// <summary>Largest key accepted, in bytes.</summary>
    public int MaxKeyBytes { get; set; } = 1024;

    /// <summary>Use O_DIRECT I/O on dedicated threads (true) or FASTER's managed file device (false).</summary>
    public bool DirectIo { get; set; } = true;

    /// <summary>Dedicated I/O threads per namespace device: the disk queue depth the engine can keep.</summary>
    public int IoThreads { get; set; } = 16;

    /// <summary>
    /// Disk reads longer than this are cut into pieces of this size read at once on several I/O threads, so that a
    /// few concurrent large gets keep more I/Os in flight; 0 reads each in one piece. A multiple of 4 KiB.
    /// </summary>
    public ByteSize ReadPieceBytes { get; set; }

    /// <summary>How often data is made durable without an explicit commit (FASTER fold-over checkpoint).</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Log growth after which a checkpoint also writes the hash index, bounding recovery replay.</summary>
    public ByteSize IndexCheckpointLogBytes { get; set; } = ByteSize.FromGiB(1);

    /// <summary>How often evictable namespaces are trimmed to their SSD budget between writes.</summary>
    public TimeSpan EvictionInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Namespaces by name. When empty the defaults "kv" (kind kv) and "files" (kind files) exist.</summary>
    public Dictionary<string, NamespaceOptions> Namespaces { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The namespaces that will exist: the configured ones, or the two defaults.</summary>
    public IReadOnlyDictionary<string, NamespaceOptions> EffectiveNamespaces()
    {
        if (Namespaces.Count > 0) return Namespaces;
        return new Dictionary<string, NamespaceOptions>(StringComparer.Ordinal)
        {
            ["kv"] = new NamespaceOptions { Kind = NamespaceKind.Kv },
            ["files"] = new NamespaceOptions { Kind = NamespaceKind.Files, RamBytes = ByteSize.FromMiB(512), PageBytes = ByteSize.FromMiB(32) },
        };
    }
}
