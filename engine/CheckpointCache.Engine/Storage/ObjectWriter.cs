namespace CheckpointCache.Engine.Storage;

/// <summary>
/// Streams a value into the log: chunk records as bytes arrive, the root record (inline value or
/// manifest) last, so readers never see a partial value.
/// </summary>
internal sealed class ObjectWriter : IObjectWriter
{
    private readonly CacheNamespace _ns;
    private readonly byte[] _userKey;
    private readonly int _chunkBytes;
    private readonly long _generation;
    private PooledBuffer? _chunk;
    private int _chunkFill;
    private int _chunksWritten;
    private long _firstChunkAddress = -1;
    private bool _completed;
    private bool _abandoned;
    private readonly bool _reserveSpace;

    public ObjectWriter(CacheNamespace ns, byte[] userKey, long length, int chunkBytes, bool reserveSpace = true)
    {
        _reserveSpace = reserveSpace;
        _ns = ns;
        _userKey = userKey;
        Length = length;
        _chunkBytes = chunkBytes;
        _generation = Random.Shared.NextInt64(1, long.MaxValue);
    }

    public long Length { get; }
    public long Written { get; private set; }

    private bool IsInline => Length <= _chunkBytes;

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_completed || _abandoned, this);
        if (Written + data.Length > Length)
            throw new CacheException(CacheErrorCode.LengthMismatch, $"value declared {Length} bytes but {Written + data.Length} were written");
        while (!data.IsEmpty)
        {
            cancellationToken.ThrowIfCancellationRequested();
            _chunk ??= _ns.Store.Buffers.Rent(RecordHeader.Size + (int)Math.Min(_chunkBytes, Length - (long)_chunksWritten * _chunkBytes));
            int room = _chunk.Length - RecordHeader.Size - _chunkFill;
            int take = Math.Min(room, data.Length);
            data.Span[..take].CopyTo(_chunk.GetSpan()[(RecordHeader.Size + _chunkFill)..]);
            _chunkFill += take;
            Written += take;
            data = data[take..];
            if (_chunkFill == _chunk.Length - RecordHeader.Size && !IsInline)
                await FlushChunkAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask FlushChunkAsync(CancellationToken cancellationToken)
    {
        var chunk = _chunk!;
        _chunk = null;
        try
        {
            var key = RecordKey.Chunk(_userKey, _generation, _chunksWritten);
            RecordHeader.Write(chunk.GetSpan(), RecordType.Chunk, _chunkFill, _chunksWritten, _generation);
            RecordHeader.Seal(key, chunk.GetSpan());
            // Eviction carrying pinned values forward writes without a reservation (it holds the eviction gate).
            long footprint = _reserveSpace ? NamespaceStore.RecordFootprint(key.Length, _chunkFill) : 0;
            using (await _ns.Capacity.ReserveAsync(footprint, cancellationToken).ConfigureAwait(false))
            {
                if (_firstChunkAddress < 0) _firstChunkAddress = _ns.Store.TailAddress;
                await _ns.Store.UpsertAsync(key, chunk.Memory).ConfigureAwait(false);
            }
            _chunksWritten++;
            _chunkFill = 0;
        }
        finally
        {
            chunk.Dispose();
        }
    }

    public async ValueTask CompleteAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_completed || _abandoned, this);
        if (Written != Length)
            throw new CacheException(CacheErrorCode.LengthMismatch, $"value declared {Length} bytes but only {Written} were written");
        cancellationToken.ThrowIfCancellationRequested();
        var rootKey = RecordKey.Root(_userKey);
        if (IsInline)
        {
            var record = _chunk ?? _ns.Store.Buffers.Rent(RecordHeader.Size);
            _chunk = null;
            try
            {
                RecordHeader.Write(record.GetSpan(), RecordType.Inline, (int)Length, 0, _generation);
                RecordHeader.Seal(rootKey, record.GetSpan());
                await _ns.PublishRootAsync(_userKey, rootKey, record.Memory, _reserveSpace, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                record.Dispose();
            }
        }
        else
        {
            if (_chunkFill > 0) await FlushChunkAsync(cancellationToken).ConfigureAwait(false);
            var manifest = new Manifest(Length, _chunkBytes, _chunksWritten, _generation, _firstChunkAddress, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            var record = new byte[RecordHeader.Size + Manifest.Size];
            RecordHeader.Write(record, RecordType.Manifest, Manifest.Size, 0, _generation);
            manifest.Write(record.AsSpan(RecordHeader.Size));
            RecordHeader.Seal(rootKey, record);
            await _ns.PublishRootAsync(_userKey, rootKey, record, _reserveSpace, cancellationToken).ConfigureAwait(false);
        }
        _completed = true;
        _ns.Counters.Put(Length);
    }

    public async ValueTask DisposeAsync()
    {
        _chunk?.Dispose();
        _chunk = null;
        if (_completed || _abandoned) return;
        _abandoned = true;
        // Chunks of an abandoned value are unreachable; tombstones let compaction drop them.
        for (int i = 0; i < _chunksWritten; i++)
        {
            try { await _ns.Store.DeleteAsync(RecordKey.Chunk(_userKey, _generation, i)).ConfigureAwait(false); }
            catch (Exception) { break; }
        }
        _ns.Capacity.NoteGarbage((long)_chunksWritten * NamespaceStore.RecordFootprint(_userKey.Length + 16, _chunkBytes));
    }
}
