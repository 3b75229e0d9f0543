using System.Runtime.InteropServices;

namespace CheckpointCache.Client.SharedMemory;

/// <summary>
/// Memory the node can read values from and write values into directly: a sealed memfd mapped here and, once a
/// call uses it, in the node (docs/api.md, "Shared buffers"). A BatchGetInto whose destinations, or a BatchPut
/// whose values, all lie in shared buffers moves no value bytes through the socket: the node copies them once,
/// between its store and this memory, as an in-process read would. Slice <see cref="Memory"/> freely; do not
/// touch a slice while a call that uses it runs. Disposing unmaps it here; the node unmaps it when the connections
/// that used it close.
/// </summary>
public sealed class SharedBuffer : IDisposable
{
    private static long s_nextId;
    private readonly MappedMemory _memory;
    private int _descriptor;
    private int _disposed;

    private SharedBuffer(int descriptor, nint address, int length)
    {
        _descriptor = descriptor;
        _memory = new MappedMemory(address, length, this);
        Id = Interlocked.Increment(ref s_nextId);
    }

    /// <summary>
    /// A new zeroed buffer of <paramref name="bytes"/> bytes (at most 2 GiB - 1; take several for more);
    /// <paramref name="name"/> is what /proc/PID/maps shows it as (memfd:NAME).
    /// </summary>
    public static SharedBuffer Allocate(int bytes, string name = "checkpointcache-shared")
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("shared buffers need Linux memfds");
        int fd = LinuxMemory.CreateSealedMemfd(name, bytes);
        try
        {
            var buffer = new SharedBuffer(fd, LinuxMemory.Map(fd, bytes), bytes);
            // Populate every page here: memory is charged to the cgroup that first faults it in, and that must be the
            // client's, not the node's (a node container would otherwise pay for its clients' buffers). One madvise
            // costs far less than a fault per page; older kernels fault them in by a pass of zeroes.
            if (!LinuxMemory.Populate(buffer._memory.Address, bytes)) buffer._memory.GetSpan().Clear();
            return buffer;
        }
        catch
        {
            LinuxMemory.Close(fd);
            throw;
        }
    }

    /// <summary>Identifies the buffer within this process (what a connection remembers it registered).</summary>
    public long Id { get; }

    public int Length => _memory.Length;

    public Memory<byte> Memory
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            return _memory.Memory;
        }
    }

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>The memfd, for passing to the node.</summary>
    internal int Descriptor
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            return _descriptor;
        }
    }

    /// <summary>The buffer <paramref name="memory"/> lies in and its offset there, when it lies in one.</summary>
    public static bool TryLocate(ReadOnlyMemory<byte> memory, out SharedBuffer buffer, out int offset)
    {
        if (MemoryMarshal.TryGetMemoryManager<byte, MappedMemory>(memory, out var manager, out offset, out _) && manager.Owner is SharedBuffer owner && !owner.IsDisposed)
        {
            buffer = owner;
            return true;
        }
        buffer = null!;
        offset = 0;
        return false;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        LinuxMemory.Unmap(_memory.Address, _memory.Length);
        LinuxMemory.Close(_descriptor);
        _descriptor = -1;
    }
}
