using System.Numerics;

namespace CheckpointCache.Engine.Storage;

/// <summary>
/// How often each key was read lately, approximately: a count-min sketch (four rows of byte counters, conservative
/// increments) whose counters are all halved after <c>sampleSize</c> reads, so that old popularity fades and a
/// key's count estimates its reads in the last one or two samples. Memory is fixed; a count can only be too high,
/// by what colliding keys add. Races between readers may lose an increment, which an estimate tolerates.
/// </summary>
internal sealed class AccessSketch
{
    private const int Rows = 4;
    private readonly byte[] _counters;
    private readonly int _mask;
    private readonly long _sampleSize;
    private long _reads;

    /// <param name="width">Counters per row, a power of two; a few times the distinct keys a sample sees.</param>
    /// <param name="sampleSize">Reads between two halvings.</param>
    public AccessSketch(int width, long sampleSize)
    {
        if (width < 64 || !BitOperations.IsPow2(width)) throw new ArgumentException("width must be a power of two of at least 64", nameof(width));
        if (sampleSize < 1) throw new ArgumentOutOfRangeException(nameof(sampleSize));
        _counters = new byte[Rows * width];
        _mask = width - 1;
        _sampleSize = sampleSize;
    }

    /// <summary>The reads of the key with this 64-bit hash, estimated (0 to 255).</summary>
    public int Estimate(ulong hash)
    {
        int min = byte.MaxValue;
        for (int row = 0; row < Rows; row++) min = Math.Min(min, _counters[Index(hash, row)]);
        return min;
    }

    /// <summary>Counts one read of the key with this 64-bit hash.</summary>
    public void Increment(ulong hash)
    {
        // Conservative update: only the counters at the minimum rise, which keeps collisions from inflating them all.
        int min = Estimate(hash);
        if (min < byte.MaxValue)
        {
            for (int row = 0; row < Rows; row++)
            {
                ref byte counter = ref _counters[Index(hash, row)];
                if (counter == min) counter = (byte)(min + 1);
            }
        }
        if (Interlocked.Increment(ref _reads) % _sampleSize == 0) Halve();
    }

    private void Halve()
    {
        var span = _counters.AsSpan();
        for (int i = 0; i < span.Length; i++) span[i] >>= 1;
    }

    private int Index(ulong hash, int row)
    {
        // Four indexes from one 64-bit hash (double hashing), each row its own stretch of the array.
        uint h = (uint)hash + (uint)row * (uint)(hash >> 32 | 1);
        return row * (_mask + 1) + (int)(h & (uint)_mask);
    }
}
