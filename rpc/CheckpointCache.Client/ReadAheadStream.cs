namespace CheckpointCache.Client;

/// <summary>
/// A connection stream that reads ahead: each socket read takes whatever the kernel holds, up to a large
/// buffer, and later reads are served from it. The HTTP/2 client reads one 16 KiB frame at a time, each
/// behind a zero-byte read, so without this a 1 MiB value costs about 130 socket reads and as many trips
/// through the socket engine's thread; on a busy host those trips, not the bytes, set the throughput.
/// Writes go straight through.
/// </summary>
public sealed class ReadAheadStream : Stream
{
    private readonly Stream _inner;
    private byte[]? _buffer;
    private int _start, _end;

    public ReadAheadStream(Stream inner, int bufferBytes = 1024 * 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferBytes, 4096);
        _inner = inner;
        // Not pooled: a read still pending at dispose may write into it. One per connection.
        _buffer = GC.AllocateUninitializedArray<byte>(bufferBytes);
    }

    private int Buffered => _end - _start;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => _inner.CanWrite;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        var buffer = _buffer ?? throw new ObjectDisposedException(nameof(ReadAheadStream));
        if (Buffered == 0)
        {
            // A large destination gains nothing from the detour through the buffer.
            if (destination.Length >= buffer.Length) return await _inner.ReadAsync(destination, cancellationToken).ConfigureAwait(false);
            // A zero-byte read waits for data: filling the buffer does that, and the data is then at hand.
            _start = 0;
            _end = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (_end == 0) return 0;
        }
        int n = Math.Min(destination.Length, Buffered);
        buffer.AsSpan(_start, n).CopyTo(destination.Span);
        _start += n;
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> destination)
    {
        var buffer = _buffer ?? throw new ObjectDisposedException(nameof(ReadAheadStream));
        if (Buffered == 0)
        {
            if (destination.Length >= buffer.Length) return _inner.Read(destination);
            _start = 0;
            _end = _inner.Read(buffer, 0, buffer.Length);
            if (_end == 0) return 0;
        }
        int n = Math.Min(destination.Length, Buffered);
        buffer.AsSpan(_start, n).CopyTo(destination);
        _start += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default) => _inner.WriteAsync(source, cancellationToken);
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _inner.WriteAsync(buffer, offset, count, cancellationToken);
    public override void Write(byte[] buffer, int offset, int count) => _inner.Write(buffer, offset, count);
    public override void Write(ReadOnlySpan<byte> source) => _inner.Write(source);
    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);
    public override void Flush() => _inner.Flush();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
            _buffer = null;
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await _inner.DisposeAsync().ConfigureAwait(false);
        _buffer = null;
        GC.SuppressFinalize(this);
    }
}
