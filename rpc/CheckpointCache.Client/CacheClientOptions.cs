namespace CheckpointCache.Client;

/// <summary>How a <see cref="CacheClient"/> talks to a node.</summary>
public sealed class CacheClientOptions
{
    /// <summary>Deadline of every call; a read that cannot finish in time is better treated as a miss than waited for.</summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Data bytes per frame, both for BatchPut and as the frame size asked of BatchGet (the node caps it at its Limits:MaxFrameBytes).</summary>
    public int FrameBytes { get; set; } = 1024 * 1024;

    /// <summary>Largest message accepted from the node; frames are at most the node's MaxFrameBytes (at most 16 MiB) plus headers.</summary>
    public int MaxReceiveMessageBytes { get; set; } = 16 * 1024 * 1024 + 64 * 1024;
}
