using System.Buffers;

namespace CheckpointCache.Engine;

/// <summary>
/// A whole value read from the cache, in a pooled buffer that goes back to the pool on Dispose.
/// </summary>
public sealed class CacheValue : IDisposable
{
    private IMemoryOwner<byte>? _owner;
    private readonly int _length;

    internal CacheValue(IMemoryOwner<byte> owner, int length, Tier tier)
    {
        _owner = owner;
        _length = length;
        Tier = tier;
    }

    public Tier Tier { get; }
    public int Length => _length;
    public ReadOnlyMemory<byte> Memory => (_owner ?? throw new ObjectDisposedException(nameof(CacheValue))).Memory[.._length];
    public ReadOnlySpan<byte> Span => Memory.Span;

    public void Dispose()
    {
        _owner?.Dispose();
        _owner = null;
    }
}
