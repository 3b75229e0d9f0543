namespace CheckpointCache.Client.Files;

/// <summary>Deadlines and frame sizes of a <see cref="FilesClient"/>.</summary>
public sealed class FilesClientOptions
{
    /// <summary>Deadline of metadata calls (stat, list, open, rename...).</summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Deadline of a write or read stream and of a commit, which move or flush whole files.</summary>
    public TimeSpan StreamTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Data bytes per write frame and the frame size asked of reads.</summary>
    public int FrameBytes { get; set; } = 1024 * 1024;
}
