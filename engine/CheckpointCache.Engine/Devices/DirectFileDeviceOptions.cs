namespace CheckpointCache.Engine.Devices;

/// <summary>Settings of a <see cref="DirectFileDevice"/>.</summary>
public sealed record DirectFileDeviceOptions
{
    /// <summary>Dedicated I/O threads: the most I/Os the device keeps in flight on the disk.</summary>
    public int IoThreads { get; init; } = 16;

    /// <summary>Find segment files a previous run left behind (FASTER needs this to recover).</summary>
    public bool Recover { get; init; } = true;

    /// <summary>
    /// Bypass the page cache with O_DIRECT. If the filesystem refuses it the device falls back to
    /// buffered I/O and logs a warning; false forces buffered I/O.
    /// </summary>
    public bool DirectIo { get; init; } = true;

    /// <summary>
    /// fdatasync written segments before completing writes (group commit), so a completed FASTER
    /// flush survives a power cut and not only a process kill. Off only for measurements.
    /// </summary>
    public bool SyncWrites { get; init; } = true;

    /// <summary>
    /// Reads longer than this are cut into pieces of this size that run on several I/O threads at once, so that a
    /// few large gets keep more I/Os in flight on the disk; 0 reads each request in one pread. A multiple of 4 KiB.
    /// </summary>
    public int ReadPieceBytes { get; init; }

    /// <summary>Queued plus running I/Os above which FASTER is told to back off; 0 means 8 per I/O thread.</summary>
    public int ThrottleLimit { get; init; }
}
