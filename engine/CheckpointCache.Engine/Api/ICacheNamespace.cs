using CheckpointCache.Engine.Options;

namespace CheckpointCache.Engine;

/// <summary>
/// One configured namespace: a keyspace with its own store, budgets and policy. Keys are opaque
/// bytes. Every method is thread-safe and may be called by many callers at once.
/// </summary>
public interface ICacheNamespace
{
    string Name { get; }
    NamespaceKind Kind { get; }
    /// <summary>The effective policy (a copy).</summary>
    NamespaceOptions Policy { get; }

    /// <summary>Stores a whole value; readers see the old value or the new one, never a mix.</summary>
    ValueTask PutAsync(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default);

    /// <summary>Starts a streamed write of a value of known length.</summary>
    IObjectWriter BeginPut(ReadOnlyMemory<byte> key, long length);

    /// <summary>Reads a whole value; null on a miss (absent, evicted, or failed its checksum).</summary>
    ValueTask<CacheValue?> GetAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads a whole value straight into <paramref name="destination"/>: each record is verified where it lies and
    /// copied once, into the caller's memory (shared with a client, or pinned for a device). Keep the destination
    /// unread until the call returns.
    /// </summary>
    ValueTask<ReadIntoResult> ReadIntoAsync(ReadOnlyMemory<byte> key, Memory<byte> destination, CancellationToken cancellationToken = default);

    /// <summary>Opens a value for chunk-wise reading; null on a miss.</summary>
    ValueTask<IObjectReader?> OpenReadAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default);

    /// <summary>Where the value's manifest is, or <see cref="Tier.None"/> when it is not cached.</summary>
    ValueTask<Tier> ExistsAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default);

    /// <summary>Removes a value; false if it was not there.</summary>
    ValueTask<bool> DeleteAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default);

    /// <summary>
    /// Keeps a value from being evicted until <paramref name="until"/> (it may still move from RAM to SSD).
    /// Pinning an absent key does nothing.
    /// </summary>
    void Pin(ReadOnlyMemory<byte> key, DateTimeOffset until);

    /// <summary>Makes every write that completed before this call durable on local SSD.</summary>
    ValueTask CommitAsync(CancellationToken cancellationToken = default);

    NamespaceStats GetStats();

    /// <summary>
    /// Every key whose value is cached now and starts with <paramref name="prefix"/>, each once, in no
    /// particular order. It reads the whole log (RAM and SSD tiers), so it is for background work such as
    /// cluster rebalancing, not for request paths. Writes made while it runs may or may not be seen.
    /// </summary>
    IAsyncEnumerable<byte[]> ScanKeysAsync(ReadOnlyMemory<byte> prefix, CancellationToken cancellationToken = default)
        => throw new NotSupportedException($"{GetType().Name} cannot enumerate its keys"); // wrappers and fakes need not
}
