using System.Runtime.InteropServices;

namespace CheckpointCache.Engine.Tests.Devices;

/// <summary>Native memory aligned like FASTER's sector-aligned buffers, for driving a device directly.</summary>
internal sealed unsafe class AlignedBuffer : IDisposable
{
    public AlignedBuffer(int length, int alignment = 4096)
    {
        Length = length;
        Pointer = (byte*)NativeMemory.AlignedAlloc((nuint)length, (nuint)alignment);
        Span.Clear();
    }

    public byte* Pointer { get; private set; }
    public int Length { get; }
    public nint Address => (nint)Pointer;
    public Span<byte> Span => new(Pointer, Length);

    public void Dispose()
    {
        if (Pointer == null) return;
        NativeMemory.AlignedFree(Pointer);
        Pointer = null;
    }
}
