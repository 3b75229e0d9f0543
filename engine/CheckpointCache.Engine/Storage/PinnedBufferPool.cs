using System.Buffers;
using System.Collections.Concurrent;
using System.Numerics;

namespace CheckpointCache.Engine.Storage;

/// <summary>
/// Power-of-two buffers on the pinned object heap. FASTER may complete a read on an I/O thread
/// long after the call that started it, so destinations must not move; pooling keeps large
/// pinned arrays from being allocated per read. Retention is bounded so idle memory stays small.
/// </summary>
internal sealed class PinnedBufferPool
{
    private const int MinBits = 12;
    private const int MaxBits = 30;
    private readonly ConcurrentBag<byte[]>[] _buckets = new ConcurrentBag<byte[]>[MaxBits + 1];
    private readonly long _maxRetainedBytes;
    private long _retainedBytes;

    public static PinnedBufferPool Shared { get; } = new(256 * 1024 * 1024);

    public PinnedBufferPool(long maxRetainedBytes)
    {
        _maxRetainedBytes = maxRetainedBytes;
        for (int i = 0; i < _buckets.Length; i++) _buckets[i] = new ConcurrentBag<byte[]>();
    }

    public long RetainedBytes => Interlocked.Read(ref _retainedBytes);

    public PooledBuffer Rent(int length)
    {
        int bits = Math.Max(MinBits, 32 - BitOperations.LeadingZeroCount((uint)Math.Max(1, length) - 1));
        if (bits > MaxBits) throw new ArgumentOutOfRangeException(nameof(length), length, "buffer larger than 1 GiB");
        if (_buckets[bits].TryTake(out var array))
            Interlocked.Add(ref _retainedBytes, -array.Length);
        else
            array = GC.AllocateUninitializedArray<byte>(1 << bits, pinned: true);
        return new PooledBuffer(this, array, length);
    }

    internal void Return(byte[] array)
    {
        if (Interlocked.Add(ref _retainedBytes, array.Length) > _maxRetainedBytes)
        {
            Interlocked.Add(ref _retainedBytes, -array.Length);
            return;
        }
        _buckets[BitOperations.Log2((uint)array.Length)].Add(array);
    }
}

/// <summary>A rented pinned buffer; its memory has the requested length.</summary>
internal sealed class PooledBuffer : MemoryManager<byte>, IDisposable
{
    private PinnedBufferPool? _pool;
    private byte[]? _array;
    private readonly int _length;

    public PooledBuffer(PinnedBufferPool pool, byte[] array, int length)
    {
        _pool = pool;
        _array = array;
        _length = length;
    }

    public int Length => _length;

    public void Dispose() => Dispose(true);
    public byte[] Array => _array ?? throw new ObjectDisposedException(nameof(PooledBuffer));

    public override Span<byte> GetSpan() => Array.AsSpan(0, _length);

    public override unsafe MemoryHandle Pin(int elementIndex = 0)
        // Pinned-heap arrays never move, so the address stays valid without a GC handle.
        => new(System.Runtime.CompilerServices.Unsafe.AsPointer(ref Array[elementIndex]));

    public override void Unpin() { }

    protected override void Dispose(bool disposing)
    {
        var array = Interlocked.Exchange(ref _array, null);
        if (array != null) _pool?.Return(array);
        _pool = null;
    }
}
