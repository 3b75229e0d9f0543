namespace CheckpointCache.Engine.Storage;

/// <summary>Reads one version of a value chunk by chunk (an inline value is a single chunk).</summary>
internal sealed class ObjectReader : IObjectReader
{
    private readonly CacheNamespace _ns;
    private readonly byte[] _userKey;
    private readonly Manifest _manifest;
    private PooledBuffer? _inline;
    private readonly bool _promote;

    private ObjectReader(CacheNamespace ns, byte[] userKey, Manifest manifest, PooledBuffer? inline, Tier tier, bool promote = false)
    {
        _promote = promote;
        _ns = ns;
        _userKey = userKey;
        _manifest = manifest;
        _inline = inline;
        Tier = tier;
    }

    public static ObjectReader ForInline(CacheNamespace ns, byte[] userKey, PooledBuffer value, Tier tier)
        => new(ns, userKey, new Manifest(value.Length, Math.Max(1, value.Length), value.Length == 0 ? 0 : 1, 0, 0, 0), value, tier);

    public static ObjectReader ForManifest(CacheNamespace ns, byte[] userKey, Manifest manifest, Tier tier, bool promote)
        => new(ns, userKey, manifest, null, tier, promote);

    public long Length => _manifest.Length;
    public int ChunkCount => _manifest.ChunkCount;
    public int ChunkLength => _manifest.ChunkLength;
    public Tier Tier { get; }

    public int LengthOf(int index) => (int)Math.Min(_manifest.ChunkLength, _manifest.Length - (long)index * _manifest.ChunkLength);

    public async ValueTask<int> ReadChunkAsync(int index, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        if ((uint)index >= (uint)ChunkCount) throw new ArgumentOutOfRangeException(nameof(index), index, $"the value has {ChunkCount} chunks");
        int length = LengthOf(index);
        if (destination.Length < length) throw new ArgumentException($"destination holds {destination.Length} bytes, chunk {index} has {length}", nameof(destination));
        cancellationToken.ThrowIfCancellationRequested();
        if (_inline != null)
        {
            _inline.GetSpan().CopyTo(destination.Span);
            return length;
        }
        await _ns.ReadChunkIntoAsync(_userKey, _manifest, index, destination[..length], _promote).ConfigureAwait(false);
        return length;
    }

    public void Dispose()
    {
        _inline?.Dispose();
        _inline = null;
    }
}
