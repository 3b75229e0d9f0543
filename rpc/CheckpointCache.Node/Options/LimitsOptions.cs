using CheckpointCache.Engine.Options;

namespace CheckpointCache.Node.Options;

/// <summary>
/// What one request may ask of the node; bound from the "Limits" section. Every refusal names the
/// limit it broke, so an operator can tell a client bug from a limit set too low.
/// </summary>
public sealed class LimitsOptions
{
    public const string Section = "Limits";

    /// <summary>Largest key a client may send (the node adds a 16-byte namespace id in front of it).</summary>
    public int MaxKeyBytes { get; set; } = 512;

    /// <summary>Largest value; at most the engine's Engine:MaxValueBytes.</summary>
    public ByteSize MaxValueBytes { get; set; } = ByteSize.FromMiB(64);

    /// <summary>Most keys in one call.</summary>
    public int MaxBatchKeys { get; set; } = 1024;

    /// <summary>Data-socket connections open at once (each serves one call at a time); more are refused with RESOURCE_EXHAUSTED.</summary>
    public int MaxDataConnections { get; set; } = 256;

    /// <summary>Shared buffers one data-socket connection may register (docs/api.md, "Shared buffers"); the node maps each until the connection closes.</summary>
    public int MaxSharedBuffers { get; set; } = 64;

    /// <summary>Bytes of shared buffers one data-socket connection may register in all (client memory the node maps, not node memory).</summary>
    public ByteSize MaxSharedBufferBytes { get; set; } = ByteSize.FromGiB(64);

    /// <summary>
    /// Map shared buffers that lie in huge pages (memfds made with MFD_HUGETLB, a whole number of pages). They spare the
    /// node a costly first touch of every 4 KiB page a client has just written (docs/performance.md, checkpoint). A
    /// client that punches holes into such a buffer while the system has no free huge page left can make the node's
    /// next access to it fault (SIGBUS); turn this off where the node's local clients are not trusted that far.
    /// </summary>
    public bool AllowHugePageSharedBuffers { get; set; } = true;

    /// <summary>Most value bytes moved by one BatchPut or BatchGet.</summary>
    public ByteSize MaxBatchBytes { get; set; } = ByteSize.FromGiB(1);

    /// <summary>Most declared KV namespaces, over all stores.</summary>
    public int MaxNamespaces { get; set; } = 1024;

    /// <summary>Longest descriptor, as the UTF-8 descriptor string of docs/key-spec.md.</summary>
    public int MaxDescriptorBytes { get; set; } = 4096;

    /// <summary>Largest data payload of one frame the node sends, and the BatchGet default.</summary>
    public ByteSize MaxFrameBytes { get; set; } = ByteSize.FromMiB(1);

    /// <summary>
    /// Largest gRPC message the node accepts. PutFrames may carry up to this much data (less the key
    /// and framing), so a client that sends 1 MiB frames is well inside it.
    /// </summary>
    public ByteSize MaxReceiveMessageBytes { get; set; } = ByteSize.FromMiB(4);

    /// <summary>Longest pin a Lookup may ask for; longer requests are shortened to this.</summary>
    public TimeSpan MaxPinTtl { get; set; } = TimeSpan.FromMinutes(1);
}
