using System.Buffers;
using System.Collections.Concurrent;

namespace CheckpointCache.Node.Hosting;

/// <summary>
/// Kestrel's transport buffers, in blocks of <see cref="BlockBytes"/> instead of its default 4 KiB. The socket
/// transport reads into one block at a time, so with 4 KiB blocks a 1 MiB value arrives in 256 reads, each a
/// trip through the socket engine; with 128 KiB blocks it takes a handful. Blocks are pinned (the socket reads
/// into them) and kept for reuse.
/// </summary>
internal sealed class LargeBlockMemoryPool : MemoryPool<byte>
{
    public const int BlockBytes = 128 * 1024;

    // Enough blocks for a few busy connections' read and write pipes; more are allocated and dropped as needed.
    private const int MaxIdleBlocks = 256;

    private readonly ConcurrentQueue<byte[]> _idle = new();
    private int _idleCount;
    private volatile bool _disposed;

    public override int MaxBufferSize => BlockBytes;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockBytes);
        if (_idle.TryDequeue(out var block)) Interlocked.Decrement(ref _idleCount);
        else block = GC.AllocateUninitializedArray<byte>(BlockBytes, pinned: true);
        return new Block(this, block);
    }

    private void Return(byte[] block)
    {
        if (_disposed || Interlocked.Increment(ref _idleCount) > MaxIdleBlocks)
        {
            if (!_disposed) Interlocked.Decrement(ref _idleCount);
            return;
        }
        _idle.Enqueue(block);
    }

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        _idle.Clear();
    }

    private sealed class Block(LargeBlockMemoryPool pool, byte[] array) : IMemoryOwner<byte>
    {
        private byte[]? _array = array;

        public Memory<byte> Memory => _array ?? throw new ObjectDisposedException(nameof(Block));

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _array, null) is { } a) pool.Return(a);
        }
    }
}
