using CheckpointCache.Client.SharedMemory;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Mount.FileSystem;

/// <summary>
/// Equal slots carved out of one shared buffer (docs/api.md, "Shared buffers"): the node reads file bytes straight
/// into a slot and writes them straight out of one, so no file byte crosses the socket, and each data-socket
/// connection registers the buffer once. Bounded: when every slot is taken, callers use ordinary memory (the socket).
/// </summary>
internal sealed class SharedSlots : IDisposable
{
    private readonly SharedBuffer? _buffer;
    private readonly Stack<int> _free = new();

    private SharedSlots(SharedBuffer? buffer, int slotBytes, int count)
    {
        _buffer = buffer;
        SlotBytes = slotBytes;
        // Most recently used first: the pages of a few slots stay resident, not those of all of them.
        for (int i = count - 1; i >= 0; i--) _free.Push(i);
    }

    public int SlotBytes { get; }

    /// <summary>
    /// <paramref name="count"/> slots of <paramref name="slotBytes"/> (fewer where they would pass 2 GiB); none where
    /// the buffer cannot be made (not Linux, no memfd): then every caller gets ordinary memory.
    /// </summary>
    public static SharedSlots Allocate(string name, int slotBytes, int count, ILogger logger)
    {
        count = (int)Math.Clamp((long)count, 1, (Array.MaxLength - 1L) / slotBytes);
        try
        {
            return new SharedSlots(SharedBuffer.Allocate(slotBytes * count, name), slotBytes, count);
        }
        catch (Exception e) when (e is PlatformNotSupportedException or System.ComponentModel.Win32Exception)
        {
            logger.LogWarning("No shared buffer for {Name} ({Reason}): file bytes go through the data socket", name, e.Message);
            return new SharedSlots(null, slotBytes, 0);
        }
    }

    /// <summary>A free slot, or null when all are taken; give it back with <see cref="Return"/>.</summary>
    public SharedSlot? TryRent()
    {
        if (_buffer is null) return null;
        lock (_free)
        {
            if (!_free.TryPop(out int index)) return null;
            return new SharedSlot(index, _buffer.Memory.Slice(index * SlotBytes, SlotBytes));
        }
    }

    public void Return(SharedSlot slot)
    {
        lock (_free) _free.Push(slot.Index);
    }

    public void Dispose() => _buffer?.Dispose();
}
