using System.Buffers;

namespace CheckpointCache.Client.SharedMemory;

/// <summary>
/// A shared mapping seen as <see cref="Memory{T}"/>. The mapping never moves, so pinning is free; the owner unmaps
/// it only once nothing uses it (the client when its buffer is disposed, the node when the connection closes).
/// </summary>
public sealed unsafe class MappedMemory(nint address, int length, object owner) : MemoryManager<byte>
{
    /// <summary>The shared buffer (client) or mapped region (node) this memory belongs to.</summary>
    public object Owner => owner;

    public nint Address => address;

    public int Length => length;

    public override Span<byte> GetSpan() => new((void*)address, length);

    public override MemoryHandle Pin(int elementIndex = 0)
    {
        if ((uint)elementIndex > (uint)length) throw new ArgumentOutOfRangeException(nameof(elementIndex));
        return new MemoryHandle((byte*)address + elementIndex);
    }

    public override void Unpin()
    {
    }

    // The owner unmaps; disposing this view would leave others holding a dangling span.
    protected override void Dispose(bool disposing)
    {
    }
}
