using CheckpointCache.Engine.Options;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Engine.Storage;

/// <summary>
/// The object layer of one namespace: values as an inline record or as chunks plus a manifest,
/// reads verified end to end, eviction that respects pins, and the namespace's counters.
/// </summary>
internal sealed class CacheNamespace : ICacheNamespace
{
    private const int ChunkReadParallelism = 4;
    private readonly EngineOptions _engine;
    private readonly ILogger _logger;

    public CacheNamespace(NamespaceStore store, EngineOptions engine, ILogger logger)
    {
        Store = store;
        _engine = engine;
        _logger = logger;
        Checkpoints = new CheckpointCoordinator(store, engine.IndexCheckpointLogBytes, logger);
        Capacity = new CapacityGuard(store, Checkpoints, Counters, CarryPinnedForwardAsync, logger);
        _promotion = new PromotionPolicy(store.Policy);
    }

    internal NamespaceStore Store { get; }
    internal CheckpointCoordinator Checkpoints { get; }
    internal CapacityGuard Capacity { get; }
    internal NamespaceCounters Counters { get; } = new();
    internal PinTable Pins { get; } = new();
    private readonly PromotionPolicy _promotion;

    private bool ShouldPromote(byte[] userKey) => _promotion.ShouldPromote(userKey, Store.HeadAddress);

    private void NoteRead(byte[] userKey, Tier tier, bool promoted, long bytes)
        => _promotion.NoteRead(userKey, tier, promoted, bytes, Store.TailAddress, Store.HeadAddress);

    public string Name => Store.Name;
    public NamespaceKind Kind => Store.Policy.Kind;
    public NamespaceOptions Policy => Store.Policy.Clone();
    private int ChunkBytes => (int)Store.Policy.ChunkBytes.Bytes;

    private byte[] ValidateKey(ReadOnlyMemory<byte> key)
    {
        if (key.IsEmpty) throw new CacheException(CacheErrorCode.InvalidArgument, "key is empty");
        if (key.Length > _engine.MaxKeyBytes)
            throw new CacheException(CacheErrorCode.InvalidArgument, $"key has {key.Length} bytes; MaxKeyBytes is {_engine.MaxKeyBytes}");
        return key.ToArray();
    }

    private void ValidateLength(long length)
    {
        if (length < 0) throw new CacheException(CacheErrorCode.InvalidArgument, $"value length {length} is negative");
        if (length > _engine.MaxValueBytes)
            throw new CacheException(CacheErrorCode.InvalidArgument, $"value has {length} bytes; MaxValueBytes is {_engine.MaxValueBytes.Bytes}");
    }

    public async ValueTask PutAsync(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default)
    {
        await using var writer = BeginPut(key, value.Length);
        await writer.WriteAsync(value, cancellationToken).ConfigureAwait(false);
        await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    public IObjectWriter BeginPut(ReadOnlyMemory<byte> key, long length)
    {
        var userKey = ValidateKey(key);
        ValidateLength(length);
        return new ObjectWriter(this, userKey, length, ChunkBytes);
    }

    /// <summary>Writes the root record, then drops the chunks of the version it replaced.</summary>
    internal async ValueTask PublishRootAsync(byte[] userKey, byte[] rootKey, ReadOnlyMemory<byte> record, bool reserveSpace, CancellationToken cancellationToken)
    {
        Manifest? replaced = null;
        if (!Store.Policy.IsEvictable)
        {
            // Pinned namespaces only reclaim space by compaction, which keeps whatever is not deleted.
            var (found, old, _) = await Store.ReadAsync(rootKey, new RecordInput { HeaderOnly = true }).ConfigureAwait(false);
            if (found && old.Outcome == ReadOutcome.Ok)
            {
                Capacity.NoteGarbage(NamespaceStore.RecordFootprint(rootKey.Length, old.PayloadLength));
                if (old.Type == RecordType.Manifest) replaced = old.Manifest;
            }
        }
        using (await Capacity.ReserveAsync(reserveSpace ? NamespaceStore.RecordFootprint(rootKey.Length, record.Length - RecordHeader.Size) : 0, cancellationToken).ConfigureAwait(false))
        {
            await Store.UpsertAsync(rootKey, record).ConfigureAwait(false);
        }
        _promotion.NoteAppended(userKey, Store.TailAddress, Store.HeadAddress);
        if (replaced is { } manifest) await DeleteChunksAsync(userKey, manifest).ConfigureAwait(false);
    }

    public async ValueTask<CacheValue?> GetAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default)
    {
        var userKey = ValidateKey(key);
        cancellationToken.ThrowIfCancellationRequested();
        bool promote = ShouldPromote(userKey);
        var (found, output, tier) = await ReadRootAsync(userKey, headerOnly: false, promote).ConfigureAwait(false);
        if (!found) { Counters.Miss(); return null; }
        if (output.Type == RecordType.Inline)
        {
            Counters.Hit(tier, output.PayloadLength);
            NoteRead(userKey, tier, promote, output.PayloadLength);
            return new CacheValue(output.Owned!, output.PayloadLength, tier);
        }
        var manifest = output.Manifest;
        var buffer = Store.Buffers.Rent((int)manifest.Length);
        try
        {
            var valueTier = await ReadChunksIntoAsync(userKey, manifest, tier, buffer.Memory, promote, cancellationToken).ConfigureAwait(false);
            return new CacheValue(buffer, (int)manifest.Length, valueTier);
        }
        catch (ChunkMissingException)
        {
            buffer.Dispose();
            Counters.Miss();
            return null;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads every chunk of a manifest's value into <paramref name="destination"/>, a few at a time, and counts the hit;
    /// the value's tier (SSD when its root or any chunk came from there). Throws <see cref="ChunkMissingException"/>.
    /// </summary>
    private async Task<Tier> ReadChunksIntoAsync(byte[] userKey, Manifest manifest, Tier rootTier, Memory<byte> destination, bool promote, CancellationToken cancellationToken)
    {
        int worst = (int)Tier.Ram;
        int next = -1;
        async Task Worker()
        {
            for (int i; (i = Interlocked.Increment(ref next)) < manifest.ChunkCount;)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var slice = destination.Slice((int)((long)i * manifest.ChunkLength), LengthOf(manifest, i));
                if (await ReadChunkIntoAsync(userKey, manifest, i, slice, promote).ConfigureAwait(false) == Tier.Ssd) Volatile.Write(ref worst, (int)Tier.Ssd);
            }
        }
        var workers = new Task[Math.Min(ChunkReadParallelism, Math.Max(1, manifest.ChunkCount))];
        for (int w = 0; w < workers.Length; w++) workers[w] = Worker();
        await Task.WhenAll(workers).ConfigureAwait(false);
        var valueTier = rootTier == Tier.Ssd ? Tier.Ssd : (Tier)worst;
        Counters.Hit(valueTier, manifest.Length);
        NoteRead(userKey, valueTier, promote, manifest.Length);
        return valueTier;
    }

    private static int LengthOf(Manifest manifest, int index)
        => (int)Math.Min(manifest.ChunkLength, manifest.Length - (long)index * manifest.ChunkLength);

    /// <summary>Reads and verifies a root record; corrupt or dangling roots are removed and read as absent.</summary>
    /// <remarks>
    /// With a <paramref name="destination"/> (pinned by the caller until this returns), an inline value is copied
    /// there instead of into a pooled buffer; one that does not fit comes back with <see cref="ReadOutcome.DestinationTooSmall"/>.
    /// </remarks>
    private async ValueTask<(bool Found, RecordOutput Output, Tier Tier)> ReadRootAsync(byte[] userKey, bool headerOnly, bool promote = false, nint destination = 0, int capacity = 0)
    {
        var rootKey = RecordKey.Root(userKey);
        (bool found, RecordOutput output, Tier tier) result;
        try
        {
            ValueTask<(bool, RecordOutput, Tier)> pending;
            unsafe
            {
                pending = Store.ReadAsync(rootKey, new RecordInput { HeaderOnly = headerOnly, Promote = promote, Destination = (byte*)destination, Capacity = capacity });
            }
            result = await pending.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await OnCorruptAsync(userKey, "root read failed", ex).ConfigureAwait(false);
            return (false, default, Tier.None);
        }
        var (found, output, tier) = result;
        if (!found) return (false, default, Tier.None);
        bool tooSmall = output.Outcome == ReadOutcome.DestinationTooSmall && output.Type == RecordType.Inline;
        if ((output.Outcome != ReadOutcome.Ok && !tooSmall) || output.Type == RecordType.Chunk)
        {
            output.Owned?.Dispose();
            await OnCorruptAsync(userKey, "root record failed verification", null).ConfigureAwait(false);
            return (false, default, Tier.None);
        }
        if (output.Type == RecordType.Manifest)
        {
            // Chunks lie at or above FirstChunkAddress; once the begin address passed it, some are gone.
            // (Pinned namespaces never evict; their compaction moves live chunks above the new begin instead.)
            if (Store.Policy.IsEvictable && output.Manifest.FirstChunkAddress < Store.BeginAddress) return (false, default, Tier.None);
            if (output.Manifest.FirstChunkAddress < Store.HeadAddress) tier = Tier.Ssd;
        }
        return (true, output, tier);
    }

    internal async ValueTask<Tier> ReadChunkIntoAsync(byte[] userKey, Manifest manifest, int index, Memory<byte> destination, bool promote = false)
    {
        var chunkKey = RecordKey.Chunk(userKey, manifest.Generation, index);
        bool found;
        RecordOutput output;
        Tier tier;
        using (var pin = destination.Pin())
        {
            try
            {
                ValueTask<(bool, RecordOutput, Tier)> pending;
                unsafe
                {
                    // The destination stays pinned until the read (possibly a disk read) has completed.
                    pending = Store.ReadAsync(chunkKey, new RecordInput { Destination = (byte*)pin.Pointer, Capacity = destination.Length, Promote = promote });
                }
                (found, output, tier) = await pending.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                await OnCorruptAsync(userKey, $"chunk {index} read failed", ex).ConfigureAwait(false);
                throw new ChunkMissingException($"chunk {index} of the value could not be read");
            }
        }
        if (!found) throw new ChunkMissingException($"chunk {index} of the value is gone");
        if (output.Outcome != ReadOutcome.Ok || output.Type != RecordType.Chunk || output.Generation != manifest.Generation
            || output.ChunkIndex != index || output.PayloadLength != destination.Length)
        {
            await OnCorruptAsync(userKey, $"chunk {index} failed verification", null).ConfigureAwait(false);
            throw new ChunkMissingException($"chunk {index} of the value failed verification");
        }
        return tier;
    }

    public async ValueTask<ReadIntoResult> ReadIntoAsync(ReadOnlyMemory<byte> key, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        var userKey = ValidateKey(key);
        cancellationToken.ThrowIfCancellationRequested();
        bool promote = ShouldPromote(userKey);
        (bool found, RecordOutput output, Tier tier) root;
        using (var pin = destination.Pin())
        {
            nint address;
            unsafe { address = (nint)pin.Pointer; }
            // An inline value lands in the destination during this read; its pin lasts until the read completed.
            root = await ReadRootAsync(userKey, headerOnly: false, promote, address, destination.Length).ConfigureAwait(false);
        }
        var (found, output, tier) = root;
        if (!found) { Counters.Miss(); return ReadIntoResult.Miss; }
        if (output.Type == RecordType.Inline)
        {
            if (output.Outcome == ReadOutcome.DestinationTooSmall) return new ReadIntoResult(ReadIntoOutcome.TooSmall, output.PayloadLength, tier);
            Counters.Hit(tier, output.PayloadLength);
            NoteRead(userKey, tier, promote, output.PayloadLength);
            return new ReadIntoResult(ReadIntoOutcome.Hit, output.PayloadLength, tier);
        }
        var manifest = output.Manifest;
        if (manifest.Length > destination.Length) return new ReadIntoResult(ReadIntoOutcome.TooSmall, manifest.Length, tier);
        try
        {
            var valueTier = await ReadChunksIntoAsync(userKey, manifest, tier, destination, promote, cancellationToken).ConfigureAwait(false);
            return new ReadIntoResult(ReadIntoOutcome.Hit, manifest.Length, valueTier);
        }
        catch (ChunkMissingException)
        {
            Counters.Miss();
            return ReadIntoResult.Miss;
        }
    }

    public async ValueTask<IObjectReader?> OpenReadAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default)
    {
        var userKey = ValidateKey(key);
        cancellationToken.ThrowIfCancellationRequested();
        bool promote = ShouldPromote(userKey);
        var (found, output, tier) = await ReadRootAsync(userKey, headerOnly: false, promote).ConfigureAwait(false);
        if (!found) { Counters.Miss(); return null; }
        // The chunks are read later, by the caller; the root's (or first chunk's) tier decides what is remembered.
        NoteRead(userKey, tier, promote, output.Type == RecordType.Inline ? output.PayloadLength : output.Manifest.Length);
        if (output.Type == RecordType.Inline)
        {
            Counters.Hit(tier, output.PayloadLength);
            return ObjectReader.ForInline(this, userKey, output.Owned!, tier);
        }
        Counters.Hit(tier, output.Manifest.Length);
        return ObjectReader.ForManifest(this, userKey, output.Manifest, tier, promote);
    }

    public async ValueTask<Tier> ExistsAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default)
    {
        var userKey = ValidateKey(key);
        cancellationToken.ThrowIfCancellationRequested();
        var (found, _, tier) = await ReadRootAsync(userKey, headerOnly: true).ConfigureAwait(false);
        return found ? tier : Tier.None;
    }

    public async ValueTask<bool> DeleteAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default)
    {
        var userKey = ValidateKey(key);
        cancellationToken.ThrowIfCancellationRequested();
        var (found, output, _) = await ReadRootAsync(userKey, headerOnly: true).ConfigureAwait(false);
        if (!found) return false;
        // Tombstones are a few dozen bytes and must work in a full namespace, so they skip the reservation.
        var rootKey = RecordKey.Root(userKey);
        await Store.DeleteAsync(rootKey).ConfigureAwait(false);
        Capacity.NoteGarbage(NamespaceStore.RecordFootprint(rootKey.Length, output.PayloadLength));
        if (output.Type == RecordType.Manifest) await DeleteChunksAsync(userKey, output.Manifest).ConfigureAwait(false);
        Counters.Delete();
        return true;
    }

    private async ValueTask DeleteChunksAsync(byte[] userKey, Manifest manifest)
    {
        for (int i = 0; i < manifest.ChunkCount; i++)
            await Store.DeleteAsync(RecordKey.Chunk(userKey, manifest.Generation, i)).ConfigureAwait(false);
        Capacity.NoteGarbage(manifest.Length + (long)manifest.ChunkCount * NamespaceStore.RecordFootprint(userKey.Length + 16, 0));
    }

    public void Pin(ReadOnlyMemory<byte> key, DateTimeOffset until)
    {
        var userKey = ValidateKey(key);
        if (until > DateTimeOffset.UtcNow) Pins.Pin(userKey, until);
    }

    /// <summary>Before the begin address moves to <paramref name="newBegin"/>, rewrites pinned values that lie below it.</summary>
    private async ValueTask CarryPinnedForwardAsync(long newBegin)
    {
        foreach (var userKey in Pins.Live(DateTimeOffset.UtcNow))
        {
            var (found, output, _) = await ReadRootAsync(userKey, headerOnly: true).ConfigureAwait(false);
            if (!found) continue;
            // The value needs its root and (for a manifest) every chunk; the lowest of them decides.
            long lowest = output.Type == RecordType.Manifest ? Math.Min(output.Address, output.Manifest.FirstChunkAddress) : output.Address;
            if (lowest >= newBegin) continue;
            using var value = await GetAsync(userKey).ConfigureAwait(false);
            if (value == null) continue;
            await using var writer = new ObjectWriter(this, userKey, value.Length, ChunkBytes, reserveSpace: false);
            await writer.WriteAsync(value.Memory).ConfigureAwait(false);
            await writer.CompleteAsync().ConfigureAwait(false);
            _logger.LogDebug("Carried pinned value forward in {Namespace} ahead of eviction", Name);
        }
    }

    private async ValueTask OnCorruptAsync(byte[] userKey, string what, Exception? error)
    {
        Counters.Corruption();
        _logger.LogWarning(error, "Corrupt data in namespace {Namespace}: {What}; the value is dropped and reads as a miss", Name, what);
        try
        {
            await Store.DeleteAsync(RecordKey.Root(userKey)).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _logger.LogWarning(ex, "Could not remove the corrupt value's root in {Namespace}", Name);
        }
    }

    public ValueTask CommitAsync(CancellationToken cancellationToken = default)
    {
        Counters.Committed();
        return Checkpoints.CommitAsync(cancellationToken);
    }

    public async IAsyncEnumerable<byte[]> ScanKeysAsync(ReadOnlyMemory<byte> prefix,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // The scan does blocking page reads of the SSD tier, so it runs off the caller's thread.
        var candidates = await Task.Run(() => KeyScanner.LiveRootKeyCandidates(Store, prefix.Span, cancellationToken), cancellationToken).ConfigureAwait(false);
        foreach (var key in candidates)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // Drops values whose chunks were evicted or that fail verification, as a read would.
            if (await ExistsAsync(key, cancellationToken).ConfigureAwait(false) != Tier.None) yield return key;
        }
    }

    public NamespaceStats GetStats()
    {
        var c = Counters;
        return new NamespaceStats
        {
            Name = Name,
            Kind = Kind,
            RamHits = Interlocked.Read(ref c.RamHits),
            SsdHits = Interlocked.Read(ref c.SsdHits),
            Misses = Interlocked.Read(ref c.Misses),
            RamBytesRead = Interlocked.Read(ref c.RamBytesRead),
            SsdBytesRead = Interlocked.Read(ref c.SsdBytesRead),
            Puts = Interlocked.Read(ref c.Puts),
            BytesWritten = Interlocked.Read(ref c.BytesWritten),
            Deletes = Interlocked.Read(ref c.Deletes),
            Evictions = Interlocked.Read(ref c.Evictions),
            EvictedBytes = Interlocked.Read(ref c.EvictedBytes),
            CompactedLogBytes = Interlocked.Read(ref c.CompactedLogBytes),
            CompactionFreedBytes = Interlocked.Read(ref c.CompactionFreedBytes),
            GarbageBytes = Store.Policy.IsEvictable ? 0 : Capacity.GarbageBytesEstimate,
            CorruptionEvents = Interlocked.Read(ref c.CorruptionEvents),
            OutOfSpaceRejections = Interlocked.Read(ref c.OutOfSpaceRejections),
            Commits = Interlocked.Read(ref c.Commits),
            RamBytesUsed = Store.RamBytesUsed,
            SsdBytesUsed = Store.DiskBytesUsed(),
            RamBudgetBytes = Store.Policy.RamBytes,
            SsdBudgetBytes = Store.Policy.SsdBytes,
            RecoveryTime = Store.RecoveryTime,
        };
    }
}
