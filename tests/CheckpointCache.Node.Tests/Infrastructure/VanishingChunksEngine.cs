using System.Text;
using CheckpointCache.Engine;
using CheckpointCache.Engine.Options;

namespace CheckpointCache.Node.Tests.Infrastructure;

/// <summary>
/// The real engine, except that values whose key starts with "vanish{N}-" lose chunk N and later while
/// being read, as if evicted or found corrupt mid-read. Makes the abort-frame path deterministic.
/// </summary>
public sealed class VanishingChunksEngine(ICacheEngine inner) : ICacheEngine
{
    private readonly Dictionary<string, ICacheNamespace> _wrapped = inner.Namespaces.ToDictionary(n => n.Name, n => (ICacheNamespace)new Namespace(n));

    public IReadOnlyCollection<ICacheNamespace> Namespaces => _wrapped.Values;
    public ICacheNamespace GetNamespace(string name) => _wrapped.TryGetValue(name, out var ns) ? ns : inner.GetNamespace(name);

    public bool TryGetNamespace(string name, out ICacheNamespace? ns)
    {
        var found = _wrapped.TryGetValue(name, out var wrapped);
        ns = wrapped;
        return found;
    }

    public ValueTask CommitAsync(CancellationToken cancellationToken = default) => inner.CommitAsync(cancellationToken);
    public TimeSpan RecoveryTime => inner.RecoveryTime;
    public EngineStats GetStats() => inner.GetStats();
    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private sealed class Namespace(ICacheNamespace inner) : ICacheNamespace
    {
        public string Name => inner.Name;
        public NamespaceKind Kind => inner.Kind;
        public NamespaceOptions Policy => inner.Policy;
        public ValueTask PutAsync(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default) => inner.PutAsync(key, value, cancellationToken);
        public IObjectWriter BeginPut(ReadOnlyMemory<byte> key, long length) => inner.BeginPut(key, length);
        public ValueTask<CacheValue?> GetAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default) => inner.GetAsync(key, cancellationToken);
        public ValueTask<ReadIntoResult> ReadIntoAsync(ReadOnlyMemory<byte> key, Memory<byte> destination, CancellationToken cancellationToken = default) => inner.ReadIntoAsync(key, destination, cancellationToken);
        public ValueTask<Tier> ExistsAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default) => inner.ExistsAsync(key, cancellationToken);
        public ValueTask<bool> DeleteAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default) => inner.DeleteAsync(key, cancellationToken);
        public void Pin(ReadOnlyMemory<byte> key, DateTimeOffset until) => inner.Pin(key, until);
        public ValueTask CommitAsync(CancellationToken cancellationToken = default) => inner.CommitAsync(cancellationToken);
        public NamespaceStats GetStats() => inner.GetStats();

        public async ValueTask<IObjectReader?> OpenReadAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default)
        {
            var reader = await inner.OpenReadAsync(key, cancellationToken);
            // Node keys are a 16-byte namespace id followed by the client's key.
            var clientKey = Encoding.UTF8.GetString(key.Span[16..]);
            if (reader is null || !clientKey.StartsWith("vanish", StringComparison.Ordinal)) return reader;
            return new Reader(reader, clientKey[6] - '0');
        }
    }

    private sealed class Reader(IObjectReader inner, int vanishFrom) : IObjectReader
    {
        public long Length => inner.Length;
        public int ChunkCount => inner.ChunkCount;
        public int ChunkLength => inner.ChunkLength;
        public Tier Tier => inner.Tier;
        public void Dispose() => inner.Dispose();

        public ValueTask<int> ReadChunkAsync(int index, Memory<byte> destination, CancellationToken cancellationToken = default)
            => index >= vanishFrom ? throw new ChunkMissingException($"chunk {index} of the value is gone") : inner.ReadChunkAsync(index, destination, cancellationToken);
    }
}
