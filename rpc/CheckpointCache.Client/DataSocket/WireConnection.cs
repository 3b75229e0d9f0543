using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace CheckpointCache.Client.DataSocket;

/// <summary>
/// One data-socket connection with small buffers for the framing: headers are gathered and parsed in
/// <see cref="BufferBytes"/> buffers, while value bytes go straight between the socket and the caller's memory.
/// Not thread-safe: one call at a time.
/// </summary>
public sealed class WireConnection : IDisposable
{
    private const int BufferBytes = 64 * 1024;

    private readonly Socket _socket;
    private readonly byte[] _in = new byte[BufferBytes];
    private readonly byte[] _out = new byte[BufferBytes];
    private int _inStart, _inEnd, _outLength;

    public WireConnection(Socket socket) => _socket = socket;

    public Socket Socket => _socket;

    /// <summary>Bytes received and not yet read.</summary>
    public int Buffered => _inEnd - _inStart;

    /// <summary>Shared buffers this connection registered with the node, and the id the node gave each (client side).</summary>
    internal Dictionary<SharedMemory.SharedBuffer, uint>? Registered { get; set; }

    public static async Task<WireConnection> ConnectAsync(string path, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
            return new WireConnection(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    // ---- reading ----

    /// <summary>Fills <paramref name="destination"/>; large reads bypass the buffer. Throws <see cref="EndOfStreamException"/> when the peer closed.</summary>
    public async ValueTask ReadExactAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        int buffered = _inEnd - _inStart;
        if (buffered > 0)
        {
            int n = Math.Min(buffered, destination.Length);
            _in.AsSpan(_inStart, n).CopyTo(destination.Span);
            _inStart += n;
            destination = destination[n..];
        }
        while (destination.Length >= BufferBytes)
        {
            int n = await _socket.ReceiveAsync(destination, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0) throw new EndOfStreamException("the data socket closed mid-frame");
            destination = destination[n..];
        }
        if (destination.Length > 0)
        {
            await FillAsync(destination.Length, cancellationToken).ConfigureAwait(false);
            _in.AsMemory(_inStart, destination.Length).CopyTo(destination);
            _inStart += destination.Length;
        }
    }

    /// <summary>Reads and drops <paramref name="count"/> bytes (the rest of a refused value).</summary>
    public async ValueTask SkipAsync(long count, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            if (_inEnd == _inStart) await FillAsync(1, cancellationToken).ConfigureAwait(false);
            int n = (int)Math.Min(count, _inEnd - _inStart);
            _inStart += n;
            count -= n;
        }
    }

    /// <summary>Whether a new frame begins (false: the peer closed between calls).</summary>
    public async ValueTask<bool> WaitForFrameAsync(CancellationToken cancellationToken)
    {
        if (_inEnd > _inStart) return true;
        _inStart = _inEnd = 0;
        int n = await _socket.ReceiveAsync(_in.AsMemory(), SocketFlags.None, cancellationToken).ConfigureAwait(false);
        _inEnd = n;
        return n > 0;
    }

    public async ValueTask<ushort> ReadUInt16Async(CancellationToken ct) { await FillAsync(2, ct).ConfigureAwait(false); var v = BinaryPrimitives.ReadUInt16LittleEndian(_in.AsSpan(_inStart)); _inStart += 2; return v; }
    public async ValueTask<uint> ReadUInt32Async(CancellationToken ct) { await FillAsync(4, ct).ConfigureAwait(false); var v = BinaryPrimitives.ReadUInt32LittleEndian(_in.AsSpan(_inStart)); _inStart += 4; return v; }
    public async ValueTask<ulong> ReadUInt64Async(CancellationToken ct) { await FillAsync(8, ct).ConfigureAwait(false); var v = BinaryPrimitives.ReadUInt64LittleEndian(_in.AsSpan(_inStart)); _inStart += 8; return v; }
    public async ValueTask<byte> ReadByteAsync(CancellationToken ct) { await FillAsync(1, ct).ConfigureAwait(false); return _in[_inStart++]; }

    /// <summary>A u16-prefixed UTF-8 string.</summary>
    public async ValueTask<string> ReadStringAsync(CancellationToken ct)
    {
        int length = await ReadUInt16Async(ct).ConfigureAwait(false);
        if (length == 0) return "";
        await FillAsync(length, ct).ConfigureAwait(false);
        var text = Encoding.UTF8.GetString(_in, _inStart, length);
        _inStart += length;
        return text;
    }

    /// <summary>A u16-prefixed byte string (keys).</summary>
    public async ValueTask<byte[]> ReadShortBytesAsync(CancellationToken ct)
    {
        int length = await ReadUInt16Async(ct).ConfigureAwait(false);
        var bytes = new byte[length];
        await ReadExactAsync(bytes, ct).ConfigureAwait(false);
        return bytes;
    }

    private async ValueTask FillAsync(int count, CancellationToken cancellationToken)
    {
        if (_inEnd - _inStart >= count) return;
        if (_inStart > 0)
        {
            _in.AsSpan(_inStart, _inEnd - _inStart).CopyTo(_in);
            _inEnd -= _inStart;
            _inStart = 0;
        }
        while (_inEnd < count)
        {
            int n = await _socket.ReceiveAsync(_in.AsMemory(_inEnd), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0) throw new EndOfStreamException("the data socket closed mid-frame");
            _inEnd += n;
        }
    }

    // ---- writing ----

    public void WriteByte(byte value) { Reserve(1)[0] = value; _outLength += 1; }
    public void WriteUInt16(ushort value) { BinaryPrimitives.WriteUInt16LittleEndian(Reserve(2), value); _outLength += 2; }
    public void WriteUInt32(uint value) { BinaryPrimitives.WriteUInt32LittleEndian(Reserve(4), value); _outLength += 4; }
    public void WriteInt32(int value) { BinaryPrimitives.WriteInt32LittleEndian(Reserve(4), value); _outLength += 4; }
    public void WriteUInt64(ulong value) { BinaryPrimitives.WriteUInt64LittleEndian(Reserve(8), value); _outLength += 8; }

    /// <summary>A u16-prefixed UTF-8 string, cut to <see cref="DataWire.MaxMessageBytes"/>.</summary>
    public void WriteString(string text)
    {
        // Most items carry no message: no encoding, no array.
        if (text.Length == 0)
        {
            WriteUInt16(0);
            return;
        }
        var bytes = Encoding.UTF8.GetBytes(text);
        int length = Math.Min(bytes.Length, DataWire.MaxMessageBytes);
        var span = Reserve(2 + length);
        BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)length);
        bytes.AsSpan(0, length).CopyTo(span[2..]);
        _outLength += 2 + length;
    }

    /// <summary>A u16-prefixed byte string (keys, at most 64 KiB).</summary>
    public void WriteShortBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > ushort.MaxValue) throw new ArgumentException($"{bytes.Length} bytes do not fit a u16 length");
        var span = Reserve(2 + bytes.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)bytes.Length);
        bytes.CopyTo(span[2..]);
        _outLength += 2 + bytes.Length;
    }

    /// <summary>A request's header and its encoded NamespaceRef (docs/api.md, "Data socket").</summary>
    public ValueTask WriteRequestHeaderAsync(byte op, byte[] encodedNamespace, int count, CancellationToken cancellationToken)
    {
        WriteUInt32(DataWire.RequestMagic);
        WriteByte(op);
        WriteByte(0);
        WriteUInt16(0);
        WriteUInt32((uint)encodedNamespace.Length);
        WriteUInt32((uint)count);
        return WriteAsync(encodedNamespace, cancellationToken);
    }

    /// <summary>Small bytes go into the buffer; large ones are sent as they are, after what is buffered.</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (data.Length <= BufferBytes - _outLength)
        {
            data.Span.CopyTo(_out.AsSpan(_outLength));
            _outLength += data.Length;
            return;
        }
        await FlushAsync(cancellationToken).ConfigureAwait(false);
        await SendAllAsync(data, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_outLength == 0) return;
        int length = _outLength;
        _outLength = 0;
        await SendAllAsync(_out.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask SendAllAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (data.Length > 0)
        {
            int n = await _socket.SendAsync(data, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            data = data[n..];
        }
    }

    private Span<byte> Reserve(int count)
    {
        if (count > BufferBytes) throw new ArgumentException($"{count} bytes of framing do not fit the {BufferBytes}-byte buffer");
        if (BufferBytes - _outLength < count) throw new InvalidOperationException("framing buffer full: flush first");
        return _out.AsSpan(_outLength, count);
    }

    /// <summary>Flushes first when fewer than <paramref name="count"/> bytes of framing would fit.</summary>
    public ValueTask EnsureRoomAsync(int count, CancellationToken cancellationToken)
        => BufferBytes - _outLength >= count ? ValueTask.CompletedTask : FlushAsync(cancellationToken);

    /// <summary>Room a call's framing may need between flushes: an item header with a full message.</summary>
    public const int ItemFramingBytes = 4 * 1024 + 2 * DataWire.MaxMessageBytes;

    public void Dispose() => _socket.Dispose();
}
