using System.Buffers;

namespace CheckpointCache.Mount.Native;

/// <summary>A libfuse buffer as Memory, so the node's bytes land in it without another copy. Valid only during the callback.</summary>
internal sealed unsafe class NativeMemory(byte* pointer, int length) : MemoryManager<byte>
{
    public override Span<byte> GetSpan() => new(pointer, length);
    public override MemoryHandle Pin(int elementIndex = 0) => new(pointer + elementIndex);
    public override void Unpin() { }
    protected override void Dispose(bool disposing) { }
}
