using CheckpointCache.Client.SharedMemory;

namespace CheckpointCache.Node.DataSocket;

/// <summary>
/// A client's shared buffer mapped into the node: a memfd sealed against shrinking, so no write here can fault
/// past its end whatever the client does to it. Unmapped when the connection that registered it closes.
/// </summary>
internal sealed class SharedRegion : IDisposable
{
    /// <summary>Pages are populated a chunk at a time, each chunk once (a call on a connection runs alone, so no lock).</summary>
    private const int ChunkBytes = 1024 * 1024;

    private readonly MappedMemory _memory;
    private readonly bool[] _populated;
    private bool _cannotPopulate;
    private int _disposed;

    private SharedRegion(nint address, int length)
    {
        _memory = new MappedMemory(address, length, this);
        _populated = new bool[(length + ChunkBytes - 1) / ChunkBytes];
    }

    public int Length => _memory.Length;

    public Memory<byte> Memory => _memory.Memory;

    /// <summary>
    /// Maps the pages of bytes [<paramref name="offset"/>, +<paramref name="length"/>) into the node before a copy uses
    /// them. Each connection maps the buffer anew, so without this every page would fault once per connection; profiles
    /// of the mount's reads had a quarter of the node's CPU in those faults.
    /// </summary>
    public void Populate(long offset, long length)
    {
        if (_cannotPopulate || length == 0) return;
        for (long chunk = offset / ChunkBytes, last = (offset + length - 1) / ChunkBytes; chunk <= last; chunk++)
        {
            if (_populated[chunk]) continue;
            long start = chunk * ChunkBytes;
            if (!LinuxMemory.Populate(_memory.Address + (nint)start, Math.Min(ChunkBytes, Length - start)))
            {
                _cannotPopulate = true;
                return;
            }
            _populated[chunk] = true;
        }
    }

    /// <summary>Maps <paramref name="descriptor"/> (taking ownership of it) after checking what the client promised.</summary>
    public static SharedRegion Map(int descriptor, long declaredBytes, bool allowHugePages)
    {
        try
        {
            int seals = LinuxMemory.Seals(descriptor);
            if (seals < 0 || (seals & LinuxMemory.SealShrink) == 0)
                throw new DataCallException(Grpc.Core.StatusCode.InvalidArgument,
                    "a shared buffer must be a memfd sealed with F_SEAL_SHRINK, so that the node's writes can never fault past its end");
            long size = LinuxMemory.SizeOf(descriptor);
            if (size < declaredBytes)
                throw new DataCallException(Grpc.Core.StatusCode.InvalidArgument, $"the shared buffer's memfd holds {size} bytes, fewer than the {declaredBytes} declared");
            long huge = LinuxMemory.HugePageSizeOf(descriptor);
            if (huge > 0)
            {
                if (!allowHugePages)
                    throw new DataCallException(Grpc.Core.StatusCode.InvalidArgument,
                        "this node maps no shared buffer in huge pages (Limits:AllowHugePageSharedBuffers is off); give one in ordinary pages");
                // A mapping of hugetlbfs covers whole pages; the node maps exactly what was declared.
                if (declaredBytes % huge != 0)
                    throw new DataCallException(Grpc.Core.StatusCode.InvalidArgument,
                        $"a shared buffer in huge pages must declare a whole number of them ({huge} bytes each); {declaredBytes} were declared");
            }
            return new SharedRegion(LinuxMemory.Map(descriptor, declaredBytes), (int)declaredBytes);
        }
        finally
        {
            // The mapping keeps the memory; the descriptor itself is no longer needed.
            LinuxMemory.Close(descriptor);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) LinuxMemory.Unmap(_memory.Address, _memory.Length);
    }
}
