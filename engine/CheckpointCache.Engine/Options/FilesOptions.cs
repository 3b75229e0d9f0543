namespace CheckpointCache.Engine.Options;

/// <summary>The files layer (checkpoint files over a namespace of kind files), bound from the "Files" section.</summary>
public sealed class FilesOptions
{
    public const string Section = "Files";

    /// <summary>
    /// Bytes per file block, the unit of copy-on-write staging and of one engine value. 1 MiB matches
    /// the FUSE request size, so sequential writes through the mount fill whole blocks without merging.
    /// </summary>
    public ByteSize BlockBytes { get; set; } = ByteSize.FromMiB(1);

    /// <summary>Longest path, in UTF-8 bytes (Linux PATH_MAX is 4096).</summary>
    public int MaxPathBytes { get; set; } = 4096;

    /// <summary>Longest path component, in UTF-8 bytes (Linux NAME_MAX is 255).</summary>
    public int MaxNameBytes { get; set; } = 255;

    /// <summary>Largest file; writes and truncations past it are refused.</summary>
    public ByteSize MaxFileBytes { get; set; } = new(1L << 40);

    /// <summary>Partially written blocks one open file may keep in memory before merging them with their old bytes.</summary>
    public ByteSize MaxStagedBytesPerSession { get; set; } = ByteSize.FromMiB(64);

    /// <summary>Metadata journal records after which the whole tree is written as a snapshot and the journal is dropped.</summary>
    public int SnapshotEveryRecords { get; set; } = 10_000;

    /// <summary>An open file (session) untouched this long is closed by the node; its uncommitted writes are dropped.</summary>
    public TimeSpan SessionIdleTimeout { get; set; } = TimeSpan.FromMinutes(30);

    public FilesOptions Clone() => (FilesOptions)MemberwiseClone();
}
