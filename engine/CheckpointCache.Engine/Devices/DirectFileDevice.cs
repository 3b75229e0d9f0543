using System.Collections.Concurrent;
using System.Globalization;
using FASTER.core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CheckpointCache.Engine.Devices;

/// <summary>
/// A FASTER log device for Linux: segment files <c>&lt;baseName&gt;.&lt;segment&gt;</c> opened with
/// O_DIRECT, I/O run as blocking pread/pwrite on a fixed set of dedicated threads, and writes made
/// durable (group-commit fdatasync) before FASTER is told they completed.
/// </summary>
/// <remarks>
/// FASTER 2.6.5's own Linux device opens files O_SYNC without O_DIRECT and blocks thread-pool threads;
/// measured here it wrote at 0.25-0.7 of the raw disk and filled the page cache outside the RAM budget
/// (research/faster-throughput.md). Contract with FASTER, checked on every request: buffers, offsets
/// and lengths are multiples of <see cref="SectorBytes"/> (FASTER aligns to the SectorSize it is given);
/// callbacks get 0 or an errno and are never thrown through.
/// </remarks>
public sealed class DirectFileDevice : StorageDeviceBase
{
    /// <summary>Sector size promised to FASTER: 4 KiB satisfies O_DIRECT on 512e and 4Kn disks alike.</summary>
    public const int SectorBytes = 4096;

    private readonly ILogger _logger;
    private readonly string _directory;
    private readonly ConcurrentDictionary<int, SegmentFile> _segments = new();
    private readonly object _openLock = new();
    private readonly IoWorkerPool _workers;
    private readonly GroupCommitter? _committer;
    private readonly Action<IoRequest, int, uint> _complete;
    private readonly DeviceIOCompletionCallback _pieceDone;
    private int _inFlight;
    private volatile bool _disposed;

    /// <summary>Opens (and by default recovers) a device; prefer <see cref="Create(string, int, ILogger?, bool)"/>.</summary>
    public DirectFileDevice(string baseName, DirectFileDeviceOptions options, ILogger? logger = null)
        : base(Path.GetFullPath(baseName), SectorBytes, FASTER.core.Devices.CAPACITY_UNSPECIFIED)
    {
        if (!Libc.IsSupported)
            throw new PlatformNotSupportedException("DirectFileDevice needs Linux on x64 or arm64; use FASTER's managed device elsewhere.");
        ArgumentOutOfRangeException.ThrowIfLessThan(options.IoThreads, 1);
        if (options.ReadPieceBytes < 0 || options.ReadPieceBytes % SectorBytes != 0)
            throw new ArgumentException($"ReadPieceBytes {options.ReadPieceBytes} must be 0 or a positive multiple of {SectorBytes}", nameof(options));
        _logger = logger ?? NullLogger.Instance;
        _directory = Path.GetDirectoryName(FileName) ?? throw new ArgumentException($"'{baseName}' has no folder", nameof(baseName));
        Directory.CreateDirectory(_directory);
        Options = options;
        Counters = new DeviceCounters();
        ThrottleLimit = options.ThrottleLimit > 0 ? options.ThrottleLimit : 8 * options.IoThreads;

        IsDirectIo = options.DirectIo && ProbeDirectIo();
        if (options.Recover) RecoverSegments();

        _complete = Complete;
        _pieceDone = PieceDone;
        string threadName = $"dev-{Path.GetFileName(FileName)}";
        if (options.SyncWrites) _committer = new GroupCommitter(threadName, _directory, _complete, Counters, _logger);
        _workers = new IoWorkerPool(threadName, options.IoThreads, Execute, _logger);

        _logger.LogInformation(
            "Device {BaseName} opened: direct I/O {DirectIo}, {IoThreads} I/O threads, synced writes {SyncWrites}, segments {StartSegment}..{EndSegment}",
            FileName, IsDirectIo, options.IoThreads, options.SyncWrites, startSegment, endSegment);
    }

    /// <summary>Opens a device on segment files <paramref name="baseName"/>.N.</summary>
    /// <param name="baseName">Path prefix of the segment files; its folder is created if missing.</param>
    /// <param name="ioThreads">Dedicated I/O threads (the disk queue depth the device can keep).</param>
    /// <param name="logger">Receives the O_DIRECT fallback warning and I/O errors.</param>
    /// <param name="recover">Find existing segments so that FASTER can recover from them.</param>
    public static DirectFileDevice Create(string baseName, int ioThreads = 16, ILogger? logger = null, bool recover = true)
        => new(baseName, new DirectFileDeviceOptions { IoThreads = ioThreads, Recover = recover }, logger);

    /// <summary>Whether this platform can run the device (Linux on x64 or arm64).</summary>
    public static bool IsSupported => Libc.IsSupported;

    public DirectFileDeviceOptions Options { get; }

    /// <summary>False when the filesystem refused O_DIRECT (or it was turned off) and the page cache is used.</summary>
    public bool IsDirectIo { get; }

    public DeviceCounters Counters { get; }

    /// <summary>I/Os queued or running.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    public override bool Throttle() => Volatile.Read(ref _inFlight) > ThrottleLimit;

    // Completions are pushed by the I/O threads; there is nothing to poll.
    public override bool TryComplete() => true;

    public override void ReadAsync(int segmentId, ulong sourceAddress, nint destinationAddress, uint readLength, DeviceIOCompletionCallback callback, object context)
        => Submit(new IoRequest(IoKind.Read, segmentId, sourceAddress, destinationAddress, readLength, callback, context));

    public override void WriteAsync(nint sourceAddress, int segmentId, ulong destinationAddress, uint numBytesToWrite, DeviceIOCompletionCallback callback, object context)
        => Submit(new IoRequest(IoKind.Write, segmentId, destinationAddress, sourceAddress, numBytesToWrite, callback, context));

    public override void RemoveSegmentAsync(int segment, AsyncCallback callback, IAsyncResult result)
    {
        var request = new IoRequest(IoKind.RemoveSegment, segment, 0, 0, 0, null, null, callback, result);
        // Deleting a large file can take a while: keep it off FASTER's thread unless we are closing.
        if (_disposed || !_workers.TryEnqueue(request)) Execute(request);
    }

    public override void RemoveSegment(int segment) => DeleteSegment(segment);

    /// <summary>Segment length: the segment size FASTER configured, or the file's length for unsegmented logs.</summary>
    public override long GetFileSize(int segment)
    {
        if (segmentSize > 0) return segmentSize;
        if (OpenSegment(segment, create: false, out var file) != 0) return 0;
        long length = file!.Length();
        return Math.Max(length, 0);
    }

    /// <summary>Closes every open segment file; they are reopened on the next I/O.</summary>
    public override void Reset()
    {
        lock (_openLock)
        {
            foreach (var segment in _segments.Keys)
            {
                if (_segments.TryRemove(segment, out var file)) file.Dispose();
            }
        }
    }

    /// <summary>Runs the I/Os already queued, waits for them to complete, stops the threads and closes the files.</summary>
    public override void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _workers.Dispose();
        _committer?.Dispose();
        Reset();
        _logger.LogDebug("Device {BaseName} closed: {Counters}", FileName, Counters);
    }

    private void Submit(in IoRequest request)
    {
        if (_logger.IsEnabled(LogLevel.Trace))
        {
            _logger.LogTrace("{Kind} segment {Segment} offset {Offset} length {Length} buffer 0x{Buffer:X}",
                request.Kind, request.Segment, request.Offset, request.Length, (ulong)request.Buffer);
        }
        Interlocked.Increment(ref _inFlight);
        int error = Validate(request);
        if (error == 0 && request.Length == 0)
        {
            Complete(request, 0, 0);
            return;
        }
        if (error == 0 && request.Kind == IoKind.Read && Options.ReadPieceBytes > 0 && request.Length > Options.ReadPieceBytes && !_disposed)
        {
            SubmitPieces(request);
            return;
        }
        if (error == 0 && (_disposed || !_workers.TryEnqueue(request)))
        {
            _logger.LogWarning("{Kind} of segment {Segment} refused: device {BaseName} is closed", request.Kind, request.Segment, FileName);
            error = Libc.ECANCELED;
        }
        if (error != 0) Complete(request, error, 0);
    }

    private void SubmitPieces(in IoRequest whole)
    {
        var pieces = SplitRead.Cut(whole, (uint)Options.ReadPieceBytes, _pieceDone);
        // Each piece completes through Complete, which counts one in-flight I/O down.
        Interlocked.Add(ref _inFlight, pieces.Length - 1);
        foreach (var piece in pieces)
        {
            if (!_workers.TryEnqueue(piece)) Complete(piece, Libc.ECANCELED, 0);
        }
    }

    private void PieceDone(uint error, uint bytes, object context)
    {
        if (SplitRead.PieceDone(context, error, bytes, out var whole, out uint wholeError, out uint wholeBytes))
            InvokeCallback(whole, wholeError, wholeBytes);
    }

    private int Validate(in IoRequest r)
    {
        const ulong mask = SectorBytes - 1;
        if ((r.Offset & mask) == 0 && (r.Length & mask) == 0 && ((ulong)r.Buffer & mask) == 0 && r.Segment >= 0) return 0;
        Interlocked.Increment(ref Counters.misaligned);
        _logger.LogError(
            "Refused {Kind} on {BaseName} segment {Segment}: offset {Offset}, length {Length} and buffer 0x{Buffer:X} must be multiples of {SectorBytes} bytes",
            r.Kind, FileName, r.Segment, r.Offset, r.Length, (ulong)r.Buffer, SectorBytes);
        return Libc.EINVAL;
    }

    private void Execute(IoRequest r)
    {
        if (r.Kind == IoKind.RemoveSegment)
        {
            DeleteSegment(r.Segment);
            try
            {
                r.RemoveCallback?.Invoke(r.RemoveResult!);
            }
            catch (Exception ex)
            {
                _logger.LogError(ex, "Segment removal callback failed for segment {Segment}", r.Segment);
            }
            return;
        }

        uint bytes = 0;
        int error = OpenSegment(r.Segment, create: r.Kind == IoKind.Write, out var file);
        if (error == 0)
        {
            if (!file!.TryAcquire(out int fd))
            {
                error = Libc.ENOENT; // removed while this request was queued
            }
            else
            {
                long started = Counters.BeginIo();
                try
                {
                    error = r.Kind == IoKind.Read ? ReadFully(fd, r, out bytes) : WriteFully(fd, r, out bytes);
                }
                catch (Exception ex)
                {
                    _logger.LogError(ex, "{Kind} on {Path} failed", r.Kind, file.Path);
                    error = Libc.EIO;
                }
                finally
                {
                    Counters.EndIo(started, r.Kind == IoKind.Write);
                    file.Release();
                }
            }
        }
        if (error != 0)
        {
            _logger.LogError("{Kind} of {Length} bytes at {Offset} in {BaseName} segment {Segment} failed: {Error}",
                r.Kind, r.Length, r.Offset, FileName, r.Segment, Libc.Describe(error));
        }

        if (r.Kind == IoKind.Write && error == 0)
        {
            Interlocked.Increment(ref Counters.writes);
            Interlocked.Add(ref Counters.writeBytes, bytes);
            AdvanceEndSegment(r.Segment);
            if (_committer is not null)
            {
                _committer.Add(file!, r, bytes);
                return;
            }
        }
        else if (r.Kind == IoKind.Read && error == 0)
        {
            Interlocked.Increment(ref Counters.reads);
            Interlocked.Add(ref Counters.readBytes, bytes);
        }
        Complete(r, error, bytes);
    }

    private unsafe int ReadFully(int fd, in IoRequest r, out uint bytes)
    {
        byte* buffer = (byte*)r.Buffer;
        uint done = 0;
        while (done < r.Length)
        {
            nint n = Libc.PRead(fd, buffer + done, r.Length - done, (long)(r.Offset + done));
            if (n < 0)
            {
                int err = Libc.LastError;
                if (err == Libc.EINTR) continue;
                bytes = done;
                return err;
            }
            if (n == 0) break; // end of file
            done += (uint)n;
            // A short read that is not sector-sized can only end at end of file; asking again at an
            // unaligned offset would fail with EINVAL under O_DIRECT.
            if (done < r.Length && (n & (SectorBytes - 1)) != 0) break;
        }
        bytes = done;
        if (done == 0 && !r.IsPiece)
        {
            // Nothing at that address: the data FASTER expects there was never made durable or was
            // lost. Say so instead of handing back zeros as if they were records.
            return Libc.ENODATA;
        }
        // FASTER reads whole pages and value-length hints that may run past the last record written;
        // the part past end of file reads as zeros, like a hole.
        if (done < r.Length) new Span<byte>(buffer + done, (int)(r.Length - done)).Clear();
        return 0;
    }

    private unsafe int WriteFully(int fd, in IoRequest r, out uint bytes)
    {
        byte* buffer = (byte*)r.Buffer;
        uint done = 0;
        while (done < r.Length)
        {
            nint n = Libc.PWrite(fd, buffer + done, r.Length - done, (long)(r.Offset + done));
            if (n < 0)
            {
                int err = Libc.LastError;
                if (err == Libc.EINTR) continue;
                bytes = done;
                return err;
            }
            if (n == 0)
            {
                bytes = done;
                return Libc.EIO;
            }
            done += (uint)n;
        }
        bytes = done;
        return 0;
    }

    private void Complete(IoRequest r, int error, uint bytes)
    {
        if (error != 0) Interlocked.Increment(ref Counters.failures);
        Interlocked.Decrement(ref _inFlight);
        InvokeCallback(r, (uint)error, bytes);
    }

    private void InvokeCallback(in IoRequest r, uint error, uint bytes)
    {
        try
        {
            r.Callback!(error, bytes, r.Context!);
        }
        catch (Exception ex)
        {
            // Never let a FASTER callback failure unwind an I/O thread.
            _logger.LogError(ex, "Completion callback for {Kind} on segment {Segment} threw", r.Kind, r.Segment);
        }
    }

    /// <summary>Returns 0 and the open file, or an errno (ENOENT for a missing segment that is only read).</summary>
    private int OpenSegment(int segment, bool create, out SegmentFile? file)
    {
        if (_segments.TryGetValue(segment, out file)) return 0;
        lock (_openLock)
        {
            if (_segments.TryGetValue(segment, out file)) return 0;
            string path = GetSegmentFilename(FileName, segment);
            bool existed = File.Exists(path);
            if (!existed && !create) return Libc.ENOENT;

            int flags = Libc.O_RDWR | Libc.O_CLOEXEC | (create ? Libc.O_CREAT : 0);
            int fd = Libc.Open(path, flags | (IsDirectIo ? Libc.O_DIRECT : 0), 0b110_100_100);
            if (fd < 0 && IsDirectIo && Libc.LastError == Libc.EINVAL)
            {
                _logger.LogWarning("{Path} refused O_DIRECT although its folder accepted it; using buffered I/O for it", path);
                fd = Libc.Open(path, flags, 0b110_100_100);
            }
            if (fd < 0)
            {
                int err = Libc.LastError;
                _logger.LogError("Could not open segment file {Path}: {Error}", path, Libc.Describe(err));
                return err;
            }
            file = new SegmentFile(segment, path, fd);
            _segments[segment] = file;
            if (!existed) _committer?.MarkDirectoryDirty();
            return 0;
        }
    }

    private void DeleteSegment(int segment)
    {
        string path = GetSegmentFilename(FileName, segment);
        lock (_openLock)
        {
            // An I/O still running on it keeps the descriptor alive until it finishes.
            if (_segments.TryRemove(segment, out var file)) file.Dispose();
            try
            {
                File.Delete(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _logger.LogWarning(ex, "Could not delete segment file {Path}", path);
            }
        }
    }

    private void AdvanceEndSegment(int segment)
    {
        int current;
        while (segment > (current = Volatile.Read(ref endSegment)))
        {
            if (Interlocked.CompareExchange(ref endSegment, segment, current) == current) break;
        }
    }

    private bool ProbeDirectIo()
    {
        string? why = DirectIoProbe.Check(_directory, SectorBytes);
        if (why is null) return true;
        _logger.LogWarning(
            "O_DIRECT is not supported in {Directory} ({Reason}); device {BaseName} falls back to buffered I/O, so reads go through the page cache",
            _directory, why, FileName);
        return false;
    }

    /// <summary>Finds the segments a previous run left, as FASTER's recovery expects StartSegment/EndSegment to say.</summary>
    private void RecoverSegments()
    {
        string prefix = Path.GetFileName(FileName) + ".";
        var found = new List<int>();
        foreach (var path in Directory.EnumerateFiles(_directory, prefix + "*"))
        {
            var suffix = Path.GetFileName(path).AsSpan(prefix.Length);
            if (suffix.Length > 0 && suffix.IndexOfAnyExceptInRange('0', '9') < 0 &&
                int.TryParse(suffix, NumberStyles.None, CultureInfo.InvariantCulture, out int segment))
            {
                found.Add(segment);
            }
        }
        if (found.Count == 0) return;
        found.Sort();
        startSegment = found[0];
        endSegment = found[^1];
        if (found.Count != endSegment - startSegment + 1)
        {
            _logger.LogWarning("Segments of {BaseName} have gaps: found {Count} files between {StartSegment} and {EndSegment}",
                FileName, found.Count, startSegment, endSegment);
        }
    }
}
