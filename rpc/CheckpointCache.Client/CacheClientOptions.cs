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

    /// <summary>
    /// Over a Unix socket, move BatchGet/BatchPut values over the node's data socket (plain frames, no HTTP/2) when
    /// the node has one; everything else, and stores placed across a cluster, stay on gRPC.
    /// </summary>
    public bool UseDataSocket { get; set; } = true;

    /// <summary>Data socket to use instead of the one the node reports (for a node whose paths differ in this container).</summary>
    public string? DataSocketPath { get; set; }

    /// <summary>Idle data-socket connections kept for reuse; concurrent calls beyond it open and close their own.</summary>
    public int MaxIdleDataConnections { get; set; } = 32;
}
