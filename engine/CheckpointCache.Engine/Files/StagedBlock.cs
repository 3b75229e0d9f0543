using System.Buffers;

namespace CheckpointCache.Engine.Files;

/// <summary>
/// One block a session has changed. Its bytes are the written ranges held in <see cref="Buffer"/>
/// over what lies beneath: the session's own earlier flush of the block (<see cref="InEngine"/>),
/// or else the block of the version the session started from (zeros for a hole).
/// </summary>
internal sealed class StagedBlock(long index)
{
    public long Index { get; } = index;
    public byte[]? Buffer { get; set; }
    public ByteRanges Written { get; } = new();
    /// <summary>The block was written to the engine under the session's staging version.</summary>
    public bool InEngine { get; set; }
    /// <summary>Bytes stored in the engine; the block reads as zeros past them.</summary>
    public int EngineLength { get; set; }
    /// <summary>Order in which blocks got a buffer, so the oldest partial block is merged first.</summary>
    public long Touched { get; set; }

    public void ReleaseBuffer()
    {
        if (Buffer is { } b) ArrayPool<byte>.Shared.Return(b);
        Buffer = null;
        Written.Clear();
    }
}
