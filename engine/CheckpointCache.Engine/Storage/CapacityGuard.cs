using Microsoft.Extensions.Logging;

namespace CheckpointCache.Engine.Storage;

/// <summary>
/// Keeps what a namespace's folder occupies within its SSD budget. Space is given back only in
/// whole segments, by moving the log's begin address and then checkpointing (FASTER deletes the
/// segment files once a checkpoint records the new begin, so an older checkpoint never refers to
/// a deleted file). Writes reserve their bytes first; evictable namespaces trim their oldest data
/// to make room, pinned ones refuse the write.
/// </summary>
internal sealed class CapacityGuard
{
    private readonly NamespaceStore _store;
    private readonly CheckpointCoordinator _checkpoints;
    private readonly NamespaceCounters _counters;
    private readonly Func<long, ValueTask> _carryPinnedForward;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _evictGate = new(1, 1);
    private long _reserved;

    public CapacityGuard(NamespaceStore store, CheckpointCoordinator checkpoints, NamespaceCounters counters,
        Func<long, ValueTask> carryPinnedForward, ILogger logger)
    {
        _store = store;
        _checkpoints = checkpoints;
        _counters = counters;
        _carryPinnedForward = carryPinnedForward;
        _logger = logger;
        // Room for two index checkpoints (the new one is written before the old one is removed)
        // and one segment of slack for writes racing the check below.
        LogLimit = store.Policy.SsdBytes - 2 * store.IndexBytes - store.SegmentBytes - 64 * 1024;
    }

    /// <summary>Log bytes (from the first segment still on disk to the tail) the budget allows.</summary>
    public long LogLimit { get; }

    private long SegmentStart(long address) => address & ~(_store.SegmentBytes - 1);

    /// <summary>Bytes on disk from the first undeleted segment to the tail, plus reservations.</summary>
    public long Projected(long extra) => _store.TailAddress + Interlocked.Read(ref _reserved) + extra - SegmentStart(_checkpoints.DurableBeginAddress);

    /// <summary>Reserves room for a record; dispose the reservation once the record is appended.</summary>
    public async ValueTask<Reservation> ReserveAsync(long bytes, CancellationToken cancellationToken)
    {
        if (bytes == 0) return default;
        for (int attempt = 0; ; attempt++)
        {
            if (Projected(bytes) <= LogLimit)
            {
                Interlocked.Add(ref _reserved, bytes);
                // Re-check after reserving: concurrent writers may have taken the room meanwhile.
                if (Projected(0) <= LogLimit) return new Reservation(this, bytes);
                Interlocked.Add(ref _reserved, -bytes);
            }
            if (!_store.Policy.IsEvictable && attempt < 8 && await CompactAsync(bytes, cancellationToken).ConfigureAwait(false)) continue;
            if (!_store.Policy.IsEvictable || attempt >= 8)
            {
                _counters.OutOfSpace();
                throw new CacheException(CacheErrorCode.OutOfSpace,
                    $"namespace '{_store.Name}' is full: SsdBytes {_store.Policy.SsdBytes} would be exceeded by a {bytes}-byte record and the namespace is not evictable");
            }
            await EvictAsync(bytes, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Trims the oldest segments so that <paramref name="incoming"/> more bytes fit; evictable namespaces only.</summary>
    public async ValueTask EvictAsync(long incoming, CancellationToken cancellationToken)
    {
        await _evictGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            long over = Projected(incoming) - LogLimit;
            if (over <= 0) return;
            long oldBegin = _store.BeginAddress;
            // Free whole segments, at least one, plus a little headroom so evictions are not per write.
            long target = SegmentStart(_checkpoints.DurableBeginAddress) + over + _store.SegmentBytes / 4;
            long newBegin = Math.Min(SegmentStart(target) + _store.SegmentBytes, _store.ReadOnlyAddress);
            newBegin = Math.Max(newBegin, oldBegin);
            if (newBegin > oldBegin)
            {
                await _carryPinnedForward(newBegin).ConfigureAwait(false);
                _store.ShiftBeginAddress(newBegin);
                _counters.Evicted(_store.BeginAddress - oldBegin);
                _logger.LogDebug("Evicting {Namespace}: begin {OldBegin} -> {NewBegin}", _store.Name, oldBegin, _store.BeginAddress);
            }
            await _checkpoints.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _evictGate.Release();
        }
    }

    // Bytes of records deleted or replaced since the last compaction (an estimate: FASTER keeps no such count).
    // Unknown after a restart, so the first compaction of a run may look at the whole log once.
    private long _garbageBytes;
    private volatile bool _garbageUnknown = true;

    /// <summary>Notes that records of about this many bytes became garbage (deleted or replaced).</summary>
    public void NoteGarbage(long bytes)
    {
        if (!_store.Policy.IsEvictable && bytes > 0) Interlocked.Add(ref _garbageBytes, bytes);
    }

    public long GarbageBytesEstimate => Math.Max(0, Interlocked.Read(ref _garbageBytes));

    private bool MayHaveGarbage => _garbageUnknown || Interlocked.Read(ref _garbageBytes) > 0;

    /// <summary>
    /// Makes room in a pinned namespace by compacting its oldest segments, one at a time: live records move to the
    /// tail (at most one segment past the budget, which <see cref="LogLimit"/> leaves as slack), the begin address
    /// moves past the segment, and a checkpoint deletes its file. Stops when the write fits with a segment to spare,
    /// when the garbage known to exist has been reclaimed, or after one pass over the log. Returns whether it fits.
    /// </summary>
    public async ValueTask<bool> CompactAsync(long incoming, CancellationToken cancellationToken)
    {
        await _evictGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Projected(incoming) <= LogLimit) return true;
            // Known garbage smaller than the shortfall cannot make room; the log is not rescanned for it.
            if (!_garbageUnknown && Interlocked.Read(ref _garbageBytes) < Projected(incoming) - LogLimit) return false;
            long passEnd = _store.TailAddress;
            long startBegin = _store.BeginAddress, copiedTotal = 0;
            while (Projected(incoming) + _store.SegmentBytes > LogLimit && MayHaveGarbage)
            {
                long begin = _store.BeginAddress;
                // A pass ends at the tail it started from, but always finishes the segment it is in: a begin left
                // inside a segment keeps the whole segment file on disk.
                if (begin >= passEnd && begin == SegmentStart(begin)) break;
                long until = Math.Min(SegmentStart(begin) + _store.SegmentBytes, _store.SafeReadOnlyAddress);
                if (until <= begin) break;
                long copied;
                using (await _store.Mutations.EnterExclusiveAsync(cancellationToken).ConfigureAwait(false))
                {
                    long tailBefore = _store.TailAddress;
                    // Blocking device reads of the old segment, so off the caller's thread. FASTER may stop short of
                    // the address asked for (at a page it has not made read-only yet); a begin left inside the
                    // segment keeps the whole file, so the step is repeated until the segment is done.
                    await Task.Run(() =>
                    {
                        long reached = _store.Compact(until);
                        for (int again = 0; reached < until && again < 8; again++)
                        {
                            long next = _store.Compact(until);
                            if (next <= reached) break;
                            reached = next;
                        }
                    }, cancellationToken).ConfigureAwait(false);
                    // Writes are held out, so the tail grew by the live records copied (and any read promoted meanwhile).
                    copied = Math.Max(0, _store.TailAddress - tailBefore);
                }
                _checkpoints.IncludeIndexNext();
                await _checkpoints.CommitAsync(cancellationToken).ConfigureAwait(false);
                long freed = Math.Max(0, _store.BeginAddress - begin - copied);
                copiedTotal += copied;
                Interlocked.Add(ref _garbageBytes, -freed);
                _counters.Compacted(_store.BeginAddress - begin, freed);
                // FASTER made no progress at all: another step would do the same.
                if (_store.BeginAddress == begin) break;
            }
            // A pass that ends short of the room leaves no known garbage: do not rescan the log for every write.
            _garbageUnknown = false;
            if (_store.BeginAddress >= passEnd || Projected(incoming) > LogLimit || Interlocked.Read(ref _garbageBytes) < 0)
                Interlocked.Exchange(ref _garbageBytes, 0);
            _logger.LogInformation("Compacted {Namespace}: begin {OldBegin} -> {NewBegin}, {Copied} live bytes moved to the tail, {Used} bytes now in use",
                _store.Name, startBegin, _store.BeginAddress, copiedTotal, Projected(0));
            return Projected(incoming) <= LogLimit;
        }
        finally
        {
            _evictGate.Release();
        }
    }

    internal void Release(long bytes) => Interlocked.Add(ref _reserved, -bytes);

    public readonly struct Reservation(CapacityGuard guard, long bytes) : IDisposable
    {
        public void Dispose() => guard?.Release(bytes);
    }
}
