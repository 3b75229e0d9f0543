using System.IO.Hashing;

namespace CheckpointCache.Engine.Storage;

/// <summary>
/// Remembers (approximately) which keys had an SSD hit recently, so that only a second hit promotes a value
/// to the RAM tier. Promotion rewrites the value at the log's tail; doing it on every SSD hit turns a read
/// workload spread over more than the RAM budget into as many bytes of writes, for values that may never be
/// read again. A direct-mapped table of key hashes: a newer key evicts an older one in its slot, so memory
/// is fixed and "recent" means "not yet displaced".
/// </summary>
internal sealed class PromotionFilter(int slots)
{
    private readonly ulong[] _slots = new ulong[slots > 0 && (slots & (slots - 1)) == 0 ? slots : throw new ArgumentException("slots must be a power of two", nameof(slots))];

    // 0 marks an empty slot, so a key whose hash is 0 is stored as 1.
    private static ulong Hash(ReadOnlySpan<byte> key) => Math.Max(1, XxHash3.HashToUInt64(key));

    private ref ulong Slot(ulong hash) => ref _slots[(int)(hash & (ulong)(_slots.Length - 1))];

    public bool Contains(ReadOnlySpan<byte> key)
    {
        ulong h = Hash(key);
        return Volatile.Read(ref Slot(h)) == h;
    }

    public void Remember(ReadOnlySpan<byte> key)
    {
        ulong h = Hash(key);
        Volatile.Write(ref Slot(h), h);
    }

    public void Forget(ReadOnlySpan<byte> key)
    {
        ulong h = Hash(key);
        Interlocked.CompareExchange(ref Slot(h), 0, h);
    }
}
