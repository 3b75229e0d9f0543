using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace CheckpointCache.Perf.Scenarios.Writeback;

/// <summary>
/// A TCP proxy in front of Azurite that counts HTTP/1.1 requests (by method) and request body bytes from the wire,
/// independently of the node's own counters: every client (the SDK directly, the node) talks to Blob through it.
/// Request bodies are framed by Content-Length (what the Azure SDK sends); responses are copied through uncounted.
/// </summary>
public sealed class CountingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, long> _byMethod = new(StringComparer.Ordinal);
    private readonly List<Task> _connections = [];
    private readonly Task _accept;
    private long _bodyBytes, _responseBytes;

    public CountingProxy(int targetPort)
    {
        _target = targetPort;
        _listener.Start();
        _accept = Task.Run(AcceptAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public long Requests => _byMethod.Values.Sum();
    public long BodyBytes => Interlocked.Read(ref _bodyBytes);
    public long ResponseBytes => Interlocked.Read(ref _responseBytes);
    public IReadOnlyDictionary<string, long> ByMethod => new Dictionary<string, long>(_byMethod);

    private async Task AcceptAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                lock (_connections) _connections.Add(Task.Run(() => RelayAsync(client)));
            }
        }
        catch (OperationCanceledException) { }
        catch (SocketException) { }
    }

    private async Task RelayAsync(TcpClient client)
    {
        using var _ = client;
        using var server = new TcpClient();
        try
        {
            await server.ConnectAsync(IPAddress.Loopback, _target, _stop.Token);
            var up = CountRequestsAsync(client.GetStream(), server.GetStream());
            var down = CopyAsync(server.GetStream(), client.GetStream());
            await Task.WhenAny(up, down);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException) { }
    }

    private async Task CopyAsync(Stream from, Stream to)
    {
        var buffer = new byte[256 * 1024];
        try
        {
            for (int n; (n = await from.ReadAsync(buffer, _stop.Token)) > 0;)
            {
                Interlocked.Add(ref _responseBytes, n);
                await to.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException) { }
        finally { to.Close(); }
    }

    /// <summary>Reads request heads and bodies in turn, counting each, and forwards the bytes unchanged.</summary>
    private async Task CountRequestsAsync(Stream from, Stream to)
    {
        var reader = new Reader(from, _stop.Token);
        var head = new List<byte>(4096);
        try
        {
            while (true)
            {
                head.Clear();
                // The head, byte by byte from the buffer: heads are small, bodies are copied in bulk.
                while (!EndsWithBlankLine(head))
                {
                    int b = await reader.ReadByteAsync();
                    if (b < 0) return;
                    head.Add((byte)b);
                }
                var text = Encoding.ASCII.GetString(head.ToArray());
                var method = text[..Math.Max(0, text.IndexOf(' '))];
                _byMethod.AddOrUpdate(method, 1, (_, n) => n + 1);
                long length = 0;
                foreach (var line in text.Split("\r\n"))
                    if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)) length = long.Parse(line[15..].Trim());
                await to.WriteAsync(head.ToArray(), _stop.Token);
                Interlocked.Add(ref _bodyBytes, length);
                while (length > 0)
                {
                    var piece = await reader.ReadAsync((int)Math.Min(length, int.MaxValue));
                    if (piece.IsEmpty) return;
                    await to.WriteAsync(piece, _stop.Token);
                    length -= piece.Length;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException) { }
        finally { to.Close(); }
    }

    /// <summary>A buffered reader of one connection's request direction.</summary>
    private sealed class Reader(Stream stream, CancellationToken cancellationToken)
    {
        private readonly byte[] _buffer = new byte[256 * 1024];
        private int _offset, _filled;

        private async Task<bool> FillAsync()
        {
            if (_offset < _filled) return true;
            _filled = await stream.ReadAsync(_buffer, cancellationToken);
            _offset = 0;
            return _filled > 0;
        }

        public async Task<int> ReadByteAsync() => await FillAsync() ? _buffer[_offset++] : -1;

        /// <summary>Up to <paramref name="max"/> buffered bytes (valid until the next read); empty at the end.</summary>
        public async Task<ReadOnlyMemory<byte>> ReadAsync(int max)
        {
            if (!await FillAsync()) return ReadOnlyMemory<byte>.Empty;
            int n = Math.Min(max, _filled - _offset);
            var piece = _buffer.AsMemory(_offset, n);
            _offset += n;
            return piece;
        }
    }

    private static bool EndsWithBlankLine(List<byte> head)
        => head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n';

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _accept;
        Task[] all;
        lock (_connections) all = [.. _connections];
        await Task.WhenAll(all);
    }
}
