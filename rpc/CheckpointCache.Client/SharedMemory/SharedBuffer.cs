using System.ComponentModel;
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

    private SharedBuffer(int descriptor, nint address, int length, bool hugePages)
    {
        _descriptor = descriptor;
        HugePages = hugePages;
        _memory = new MappedMemory(address, length, this);
        Id = Interlocked.Increment(ref s_nextId);
    }

    /// <summary>
    /// A new zeroed buffer of <paramref name="bytes"/> bytes (at most 2 GiB - 1; take several for more);
    /// <paramref name="name"/> is what /proc/PID/maps shows it as (memfd:NAME). With <paramref name="hugePages"/>, a
    /// size that is a whole number of the system's huge pages is taken in huge pages while enough are reserved
    /// (vm.nr_hugepages), and in ordinary pages otherwise (<see cref="HugePages"/> says which).
    /// </summary>
    public static SharedBuffer Allocate(int bytes, string name = "checkpointcache-shared", bool hugePages = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("shared buffers need Linux memfds");
        long huge = LinuxMemory.HugePageBytes;
        if (hugePages && huge > 0 && bytes % huge == 0 && TryAllocateHuge(bytes, name) is { } inHugePages) return inHugePages;
        int fd = LinuxMemory.CreateSealedMemfd(name, bytes);
        try
        {
            var buffer = new SharedBuffer(fd, LinuxMemory.Map(fd, bytes), bytes, hugePages: false);
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

    /// <summary>
    /// The buffer in huge pages, or null where the system cannot give them now. Under a hypervisor, a process's first
    /// touch of a 4 KiB page that another process has just written can cost microseconds (docs/performance.md,
    /// checkpoint): the mount's writes paid that per page in the node. A huge page pays it once per 2 MiB.
    /// </summary>
    private static SharedBuffer? TryAllocateHuge(int bytes, string name)
    {
        int fd;
        try
        {
            fd = LinuxMemory.CreateSealedMemfd(name, bytes, hugePages: true);
        }
        catch (Win32Exception)
        {
            return null; // no hugetlbfs, or sealing refused there
        }
        // A shared mapping reserves its huge pages when it is made, so a pool too small fails here, not later as a SIGBUS.
        nint address = LinuxMemory.TryMap(fd, bytes);
        if (address == -1)
        {
            LinuxMemory.Close(fd);
            return null;
        }
        var buffer = new SharedBuffer(fd, address, bytes, hugePages: true);
        if (!LinuxMemory.Populate(address, bytes)) buffer._memory.GetSpan().Clear();
        return buffer;
    }

    /// <summary>Whether the buffer lies in huge pages (see <see cref="Allocate"/>).</summary>
    public bool HugePages { get; }

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
