using System.Diagnostics;
using System.Numerics;
using CheckpointCache.Engine.Devices;
using CheckpointCache.Engine.Options;
using FASTER.core;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Engine.Storage;

using Session = ClientSession<SpanByte, SpanByte, RecordInput, RecordOutput, Empty, RecordFunctions>;

/// <summary>
/// One namespace's FASTER store: the hybrid log's memory is the RAM tier, its device the SSD
/// tier. This class owns the store, its device and its sessions, and offers record-level
/// primitives; the object layer above it decides what records mean.
/// </summary>
internal sealed class NamespaceStore : IDisposable
{
    private readonly FasterKV<SpanByte, SpanByte> _store;
    private readonly IDevice _device;
    private readonly SessionPool _sessions;
    // Sessions that never copy SSD hits to the tail: existence checks must not rewrite values.
    private readonly SessionPool _lookupSessions;
    private readonly ILogger _logger;

    public string Name { get; }
    public NamespaceOptions Policy { get; }
    public string Directory { get; }
    public long PageBytes { get; }
    public long SegmentBytes { get; }
    public long IndexBytes { get; }
    public TimeSpan RecoveryTime { get; }
    public PinnedBufferPool Buffers { get; }

    private NamespaceStore(string name, NamespaceOptions policy, string directory, FasterKV<SpanByte, SpanByte> store, IDevice device,
        SessionPool sessions, SessionPool lookupSessions, long pageBytes, long segmentBytes, long indexBytes, TimeSpan recoveryTime, PinnedBufferPool buffers, ILogger logger)
    {
        Name = name;
        Policy = policy;
        Directory = directory;
        _store = store;
        _device = device;
        _sessions = sessions;
        _lookupSessions = lookupSessions;
        PageBytes = pageBytes;
        SegmentBytes = segmentBytes;
        IndexBytes = indexBytes;
        RecoveryTime = recoveryTime;
        Buffers = buffers;
        _logger = logger;
    }

    public long TailAddress => _store.Log.TailAddress;
    internal IDevice Device => _device;
    public long HeadAddress => _store.Log.HeadAddress;
    public long BeginAddress => _store.Log.BeginAddress;
    public long ReadOnlyAddress => _store.Log.ReadOnlyAddress;
    public long MemoryBytes => _store.Log.MemorySizeBytes;
    internal FasterKV<SpanByte, SpanByte> Faster => _store;

    public static NamespaceStore Open(string name, NamespaceOptions policy, EngineOptions engine, PinnedBufferPool buffers, ILoggerFactory loggerFactory)
    {
        var logger = loggerFactory.CreateLogger($"CheckpointCache.Engine.Namespace.{name}");
        var directory = Path.GetFullPath(Path.Combine(engine.DataDirectory, name));
        var (pageBits, segmentBits, memoryBits, emptyPages, indexBuckets) = Layout(name, policy, engine);
        System.IO.Directory.CreateDirectory(Path.Combine(directory, "log"));
        System.IO.Directory.CreateDirectory(Path.Combine(directory, "checkpoints"));
        // FASTER preallocates its whole power-of-two buffer, empty pages included: more than the budget.
        bool preallocate = policy.IsPreallocateRam && emptyPages == 0;
        if (policy.PreallocateRam == true && !preallocate)
        {
            logger.LogWarning("Namespace {Namespace}: RamBytes {RamBytes} is not a power of two, so its RAM tier is allocated as the log fills, not preallocated",
                name, policy.RamBytes);
        }

        var stopwatch = Stopwatch.StartNew();
        var (store, device) = Create(directory, policy, engine, pageBits, segmentBits, memoryBits, preallocate, indexBuckets, loggerFactory);
        bool hasCheckpoint = System.IO.Directory.EnumerateFileSystemEntries(Path.Combine(directory, "checkpoints")).Any();
        if (hasCheckpoint)
        {
            try
            {
                store.Recover();
            }
            catch (Exception ex)
            {
                // A store that cannot recover is quarantined, not deleted: an operator can still inspect it.
                store.Dispose();
                device.Dispose();
                var quarantine = $"{directory}.unrecoverable-{DateTime.UtcNow:yyyyMMddHHmmss}";
                logger.LogCritical(ex, "Namespace {Namespace} could not be recovered from {Directory}; moved it to {Quarantine} and started empty", name, directory, quarantine);
                System.IO.Directory.Move(directory, quarantine);
                System.IO.Directory.CreateDirectory(Path.Combine(directory, "log"));
                System.IO.Directory.CreateDirectory(Path.Combine(directory, "checkpoints"));
                (store, device) = Create(directory, policy, engine, pageBits, segmentBits, memoryBits, preallocate, indexBuckets, loggerFactory);
            }
        }
        if (emptyPages > 0) store.Log.SetEmptyPageCount(emptyPages, wait: true);
        stopwatch.Stop();

        var functions = new RecordFunctions(buffers);
        var copy = policy.IsPromoteOnHit ? new ReadCopyOptions(ReadCopyFrom.Device, ReadCopyTo.MainLog) : ReadCopyOptions.None;
        var sessions = new SessionPool(() => store.For(functions).NewSession<RecordFunctions>(readCopyOptions: copy));
        var lookupSessions = new SessionPool(() => store.For(functions).NewSession<RecordFunctions>(readCopyOptions: ReadCopyOptions.None));
        logger.LogInformation(
            "Namespace {Namespace} ({Kind}) opened at {Directory}: RAM {RamBytes} in {Pages} pages of {PageBytes}, SSD {SsdBytes}, log {BeginAddress}..{TailAddress}, recovered={Recovered} in {RecoveryMs} ms",
            name, policy.Kind, directory, policy.RamBytes, (1L << (memoryBits - pageBits)) - emptyPages, new ByteSize(1L << pageBits), policy.SsdBytes,
            store.Log.BeginAddress, store.Log.TailAddress, hasCheckpoint, stopwatch.Elapsed.TotalMilliseconds);
        return new NamespaceStore(name, policy, directory, store, device, sessions, lookupSessions, 1L << pageBits, 1L << segmentBits, indexBuckets * 64,
            stopwatch.Elapsed, buffers, logger);
    }

    private static (FasterKV<SpanByte, SpanByte>, IDevice) Create(string directory, NamespaceOptions policy, EngineOptions engine,
        int pageBits, int segmentBits, int memoryBits, bool preallocate, long indexBuckets, ILoggerFactory loggerFactory)
    {
        var device = LogDeviceFactory.Create(Path.Combine(directory, "log", "hlog"), engine, loggerFactory);
        var logSettings = new LogSettings
        {
            LogDevice = device,
            PageSizeBits = pageBits,
            SegmentSizeBits = segmentBits,
            MemorySizeBits = memoryBits,
            MutableFraction = policy.MutableFraction,
            ReadCopyOptions = ReadCopyOptions.None,
            PreallocateLog = preallocate,
        };
        var checkpointSettings = new CheckpointSettings
        {
            CheckpointDir = Path.Combine(directory, "checkpoints"),
            RemoveOutdated = true,
        };
        var varLen = new VariableLengthStructSettings<SpanByte, SpanByte>
        {
            keyLength = new SpanByteVarLenStruct(),
            valueLength = new ValueLengthHint((int)Math.Min(policy.ReadHintBytes.Bytes, int.MaxValue / 2)),
        };
        var store = new FasterKV<SpanByte, SpanByte>(indexBuckets, logSettings, checkpointSettings,
            serializerSettings: null, comparer: null, variableLengthStructSettings: varLen,
            loggerFactory: null, logger: loggerFactory.CreateLogger("FASTER"));
        return (store, device);
    }

    /// <summary>Turns the policy into FASTER's power-of-two settings, refusing layouts that cannot work.</summary>
    internal static (int PageBits, int SegmentBits, int MemoryBits, int EmptyPages, long IndexBuckets) Layout(string name, NamespaceOptions policy, EngineOptions engine)
    {
        static int Bits(long value) => BitOperations.Log2((ulong)value);
        static bool Pow2(long v) => v > 0 && (v & (v - 1)) == 0;
        if (!Pow2(policy.PageBytes)) throw Invalid(name, $"PageBytes {policy.PageBytes} must be a power of two");
        if (!Pow2(policy.SegmentBytes) || policy.SegmentBytes < policy.PageBytes)
            throw Invalid(name, $"SegmentBytes {policy.SegmentBytes} must be a power of two and at least PageBytes {policy.PageBytes}");
        long maxRecord = 8 + RecordKey.ChunkLength(engine.MaxKeyBytes + 64) + 8 + RecordHeader.Size + policy.ChunkBytes + 8;
        if (maxRecord > policy.PageBytes)
            throw Invalid(name, $"ChunkBytes {policy.ChunkBytes} plus record headers must fit in one page (PageBytes {policy.PageBytes}); a record never straddles pages");
        if (!(policy.MutableFraction is >= 0 and <= 1))
            throw Invalid(name, $"MutableFraction {policy.MutableFraction} must be between 0 and 1");
        if (policy.ChunkBytes < 4096) throw Invalid(name, $"ChunkBytes {policy.ChunkBytes} must be at least 4KiB");
        if (!(policy.PromoteBudget >= 0) || double.IsInfinity(policy.PromoteBudget))
            throw Invalid(name, $"PromoteBudget {policy.PromoteBudget} must be a number of 0 or more (bytes promoted per byte read from SSD)");
        if (!(policy.PromoteFrequencyRatio >= 0) || double.IsInfinity(policy.PromoteFrequencyRatio))
            throw Invalid(name, $"PromoteFrequencyRatio {policy.PromoteFrequencyRatio} must be a number of 0 or more (how many times as often a value must be read as the one its promotion pushes out of RAM)");
        if (policy.RamBytes < 4 * policy.PageBytes)
            throw Invalid(name, $"RamBytes {policy.RamBytes} must hold at least 4 pages of PageBytes {policy.PageBytes}");
        int pageBits = Bits(policy.PageBytes);
        int memoryBits = Bits(policy.RamBytes);
        if (1L << memoryBits < policy.RamBytes) memoryBits++;
        int emptyPages = (int)(((1L << memoryBits) - policy.RamBytes.Bytes) / policy.PageBytes);
        long buckets = policy.IndexBuckets > 0 ? policy.IndexBuckets : Math.Max(1L << 12, policy.SsdBytes / (256 * 1024));
        buckets = (long)BitOperations.RoundUpToPowerOf2((ulong)buckets);
        long indexBytes = buckets * 64;
        long minimumSsd = policy.RamBytes + 3 * policy.SegmentBytes + 2 * indexBytes;
        if (policy.SsdBytes < minimumSsd)
            throw Invalid(name, $"SsdBytes {policy.SsdBytes} must be at least RamBytes + 3 x SegmentBytes + 2 x index ({new ByteSize(minimumSsd)}): the SSD tier holds everything the RAM tier holds");
        return (pageBits, Bits(policy.SegmentBytes), memoryBits, emptyPages, buckets);
    }

    private static CacheException Invalid(string name, string message)
        => new(CacheErrorCode.InvalidArgument, $"namespace '{name}': {message}");

    public Session RentSession() => _sessions.Rent();
    public void ReturnSession(Session session) => _sessions.Return(session);

    /// <summary>Appends a record; returns once it is in the log (not yet durable).</summary>
    public async ValueTask UpsertAsync(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> record)
    {
        await Fence.WaitAsync().ConfigureAwait(false);
        using var _ = await Mutations.EnterAsync().ConfigureAwait(false);
        var session = _sessions.Rent();
        try
        {
            var result = await StartUpsert(session, key, record).ConfigureAwait(false);
            while (result.Status.IsPending) result = await result.CompleteAsync().ConfigureAwait(false);
        }
        finally
        {
            _sessions.Return(session);
        }
    }

    private static unsafe ValueTask<FasterKV<SpanByte, SpanByte>.UpsertAsyncResult<RecordInput, RecordOutput, Empty>> StartUpsert(Session session, ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> record)
    {
        // FASTER copies key and value into the log (or into its pending context) before this returns.
        using var keyHandle = key.Pin();
        using var valueHandle = record.Pin();
        var k = SpanByte.FromPointer((byte*)keyHandle.Pointer, key.Length);
        var v = SpanByte.FromPointer((byte*)valueHandle.Pointer, record.Length);
        return session.UpsertAsync(ref k, ref v);
    }

    /// <summary>Reads a record; Found is false when the key is absent or below the begin address.</summary>
    public async ValueTask<(bool Found, RecordOutput Output, Tier Tier)> ReadAsync(ReadOnlyMemory<byte> key, RecordInput input)
    {
        var pool = input.HeaderOnly || !input.Promote ? _lookupSessions : _sessions;
        var session = pool.Rent();
        try
        {
            long head = _store.Log.HeadAddress;
            var pending = StartRead(session, key, ref input);
            var (status, output) = (await pending.ConfigureAwait(false)).Complete();
            if (!status.Found)
            {
                output.Owned?.Dispose();
                return (false, default, Tier.None);
            }
            return (true, output, output.Address >= head ? Tier.Ram : Tier.Ssd);
        }
        finally
        {
            pool.Return(session);
        }
    }

    private static unsafe ValueTask<FasterKV<SpanByte, SpanByte>.ReadAsyncResult<RecordInput, RecordOutput, Empty>> StartRead(Session session, ReadOnlyMemory<byte> key, ref RecordInput input)
    {
        using var keyHandle = key.Pin();
        var k = SpanByte.FromPointer((byte*)keyHandle.Pointer, key.Length);
        return session.ReadAsync(ref k, ref input);
    }

    public async ValueTask DeleteAsync(ReadOnlyMemory<byte> key)
    {
        await Fence.WaitAsync().ConfigureAwait(false);
        using var _ = await Mutations.EnterAsync().ConfigureAwait(false);
        var session = _sessions.Rent();
        try
        {
            var result = await StartDelete(session, key).ConfigureAwait(false);
            while (result.Status.IsPending) result = await result.CompleteAsync().ConfigureAwait(false);
        }
        finally
        {
            _sessions.Return(session);
        }
    }

    private static unsafe ValueTask<FasterKV<SpanByte, SpanByte>.DeleteAsyncResult<RecordInput, RecordOutput, Empty>> StartDelete(Session session, ReadOnlyMemory<byte> key)
    {
        using var keyHandle = key.Pin();
        var k = SpanByte.FromPointer((byte*)keyHandle.Pointer, key.Length);
        return session.DeleteAsync(ref k);
    }

    /// <summary>Bytes a record of this key and payload occupies in the log (FASTER header, lengths, alignment).</summary>
    public static long RecordFootprint(int keyLength, int payloadLength)
        => 8 + Align8(4 + keyLength) + Align8(4 + RecordHeader.Size + payloadLength);

    private static long Align8(long v) => (v + 7) & ~7L;

    public long SafeReadOnlyAddress => _store.Log.SafeReadOnlyAddress;

    /// <summary>Upserts and deletes pass through it; compaction holds it exclusively.</summary>
    internal MutationGate Mutations { get; } = new();

    /// <summary>Where writes wait while a checkpoint of this store runs.</summary>
    internal CheckpointFence Fence { get; } = new();

    /// <summary>
    /// FASTER's lookup compaction: copies the records below <paramref name="untilAddress"/> that are still the
    /// latest of their key (tombstones and replaced records are dropped) to the tail, then moves the begin address
    /// there. Blocks on disk reads, so call it off the thread pool's hot path; durable only after a checkpoint.
    /// </summary>
    public long Compact(long untilAddress)
    {
        var session = _sessions.Rent();
        try
        {
            return session.Compact(untilAddress, CompactionType.Lookup);
        }
        finally
        {
            _sessions.Return(session);
        }
    }

    public void ShiftBeginAddress(long address) => _store.Log.ShiftBeginAddress(address, snapToPageStart: true, truncateLog: false);

    /// <summary>Log bytes kept in memory, the RAM tier's use.</summary>
    public long RamBytesUsed => Math.Max(0, _store.Log.TailAddress - _store.Log.HeadAddress);

    /// <summary>What the namespace's folder occupies on disk.</summary>
    public long DiskBytesUsed()
    {
        long total = 0;
        foreach (var file in new DirectoryInfo(Directory).EnumerateFiles("*", SearchOption.AllDirectories))
        {
            try { total += file.Length; } catch (IOException) { }
        }
        return total;
    }

    public void Dispose()
    {
        _sessions.Dispose();
        _lookupSessions.Dispose();
        _store.Dispose();
        _device.Dispose();
        _logger.LogDebug("Namespace {Namespace} store closed", Name);
    }
}
