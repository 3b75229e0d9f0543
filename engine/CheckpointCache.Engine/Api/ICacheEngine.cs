namespace CheckpointCache.Engine;

/// <summary>
/// The node-local cache: every front door (gRPC services, the mount adapter, benchmarks) calls this.
/// It knows nothing of transports or clouds.
/// </summary>
public interface ICacheEngine : IAsyncDisposable
{
    IReadOnlyCollection<ICacheNamespace> Namespaces { get; }

    /// <summary>Throws <see cref="CacheException"/> (NamespaceNotFound) if none of that name is configured.</summary>
    ICacheNamespace GetNamespace(string name);

    bool TryGetNamespace(string name, out ICacheNamespace? ns);

    /// <summary>Commits every namespace.</summary>
    ValueTask CommitAsync(CancellationToken cancellationToken = default);

    /// <summary>How long opening the data directory took (recovery of every namespace).</summary>
    TimeSpan RecoveryTime { get; }

    EngineStats GetStats();
}
