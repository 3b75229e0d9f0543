using CheckpointCache.Client.Files;
using CheckpointCache.Client.SharedMemory;
using CheckpointCache.Rpc.Files.V1;
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
    private readonly ILogger _logger;
    private int _retired;

    private SharedSlots(SharedBuffer? buffer, int slotBytes, int count, ILogger logger)
    {
        _buffer = buffer;
        _logger = logger;
        SlotBytes = slotBytes;
        // Most recently used first: a few slots stay warm in the CPU's caches and TLB instead of all cycling through.
        for (int i = count - 1; i >= 0; i--) _free.Push(i);
    }

    public int SlotBytes { get; }

    /// <summary>
    /// <paramref name="count"/> slots of <paramref name="slotBytes"/> (fewer where they would pass 2 GiB); none where
    /// the buffer cannot be made (not Linux, no memfd): then every caller gets ordinary memory.
    /// </summary>
    public static SharedSlots Allocate(string name, int slotBytes, int count, bool hugePages, ILogger logger)
    {
        count = (int)Math.Clamp((long)count, 1, (Array.MaxLength - 1L) / slotBytes);
        try
        {
            var buffer = SharedBuffer.Allocate(slotBytes * count, name, hugePages);
            long huge = LinuxMemory.HugePageBytes;
            if (buffer.HugePages)
                logger.LogInformation("Shared buffer {Name}: {Slots} slots of {SlotBytes} bytes in {Pages} huge pages", name, count, slotBytes, buffer.Length / huge);
            else if (hugePages && huge > 0)
                logger.LogInformation(
                    "Shared buffer {Name}: {Slots} slots of {SlotBytes} bytes in ordinary pages; with {Pages} huge pages free (vm.nr_hugepages) at start it would take them and spare the node a costly first touch of each 4 KiB page",
                    name, count, slotBytes, ((long)slotBytes * count + huge - 1) / huge);
            return new SharedSlots(buffer, slotBytes, count, logger);
        }
        catch (Exception e) when (e is PlatformNotSupportedException or System.ComponentModel.Win32Exception)
        {
            logger.LogWarning("No shared buffer for {Name} ({Reason}): file bytes go through the data socket", name, e.Message);
            return new SharedSlots(null, slotBytes, 0, logger);
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

    /// <summary>Free slots now (tests).</summary>
    internal int FreeCount
    {
        get { lock (_free) return _free.Count; }
    }

    /// <summary>Slots taken out of use by <see cref="Retire"/>.</summary>
    public int Retired => Volatile.Read(ref _retired);

    /// <summary>
    /// Takes a slot out of use for good: its call ended without the node's answer (a timeout, a cancelled or broken
    /// connection), so the node may still be copying into or out of it, and handing it to another read could give that
    /// reader the old call's bytes. Callers fall back to ordinary memory once every slot is retired.
    /// </summary>
    public void Retire(SharedSlot slot)
    {
        int retired = Interlocked.Increment(ref _retired);
        _logger.LogWarning("Shared slot {Slot} retired after a call the node did not answer ({Retired} retired so far)", slot.Index, retired);
    }

    /// <summary>
    /// Whether a call that threw is known to have ended on the node: the node answered with a named files error. A
    /// timeout, a cancellation or a lost connection leaves it unknown.
    /// </summary>
    public static bool NodeAnswered(Exception? e) => e is FilesClientException { Error: not FilesError.None };

    public void Dispose() => _buffer?.Dispose();
}
