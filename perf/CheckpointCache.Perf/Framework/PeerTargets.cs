using System.Buffers.Text;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CheckpointCache.Client;
using CheckpointCache.Client.SharedMemory;
using CheckpointCache.Rpc.Kv.V1;
using Grpc.Core;
using StackExchange.Redis;

namespace CheckpointCache.Perf.Framework;

/// <summary>What a GET found: the value with the right bytes, nothing, or wrong bytes.</summary>
public enum GetOutcome
{
    Hit,
    Miss,
    Mismatch,
}

/// <summary>
/// The same keys for every system: 32 hex characters (the 16-byte <see cref="ValuePattern.Key"/> of the id),
/// valid as a Redis key, a memcached key and a node key alike.
/// </summary>
public sealed class KeySet
{
    private readonly byte[][] _ascii;
    private readonly RedisKey[] _redis;

    public KeySet(long count)
    {
        _ascii = new byte[count][];
        _redis = new RedisKey[count];
        for (long id = 0; id < count; id++)
        {
            _ascii[id] = Encoding.ASCII.GetBytes(Convert.ToHexStringLower(ValuePattern.Key(id)));
            _redis[id] = _ascii[id];
        }
    }

    public long Count => _ascii.LongLength;
    public byte[] Ascii(long id) => _ascii[id];
    public RedisKey Redis(long id) => _redis[id];
}

/// <summary>One system under test, driven through its own well-kept client, one connection per worker.</summary>
public interface IKvTarget : IAsyncDisposable
{
    string Name { get; }

    Task ConnectAsync(int workers, CancellationToken cancellationToken);

    /// <summary>Stores the value; false when the server refused it (e.g. memcached's NOT_STORED).</summary>
    ValueTask<bool> SetAsync(int worker, long id, ReadOnlyMemory<byte> value, CancellationToken cancellationToken);

    /// <summary>Fetches and checks the value of <paramref name="id"/> (<see cref="ValuePattern.Verify"/>).</summary>
    ValueTask<GetOutcome> GetAsync(int worker, long id, int valueBytes, CancellationToken cancellationToken);
}

/// <summary>
/// The node through <see cref="CacheClient"/> (BatchPut/BatchGet of one item), over its Unix socket (values on the data
/// socket) or TCP; GET fills a buffer reused per worker, as the peers' clients read into pooled or reused memory. With
/// <paramref name="sharedBuffers"/> that buffer is a <see cref="SharedBuffer"/>, which the node writes values into
/// directly (docs/api.md, "Shared buffers").
/// </summary>
public sealed class NodeTarget(string name, string endpoint, KeySet keys, int frameBytes, bool sharedBuffers) : IKvTarget
{
    private CacheClient[] _clients = [];
    private Memory<byte>[] _buffers = [];
    private readonly List<SharedBuffer> _shared = [];
    private KvNamespace? _ns;

    public string Name => name;

    public async Task ConnectAsync(int workers, CancellationToken cancellationToken)
    {
        var options = new CacheClientOptions { CallTimeout = TimeSpan.FromSeconds(60), FrameBytes = frameBytes };
        _clients = Enumerable.Range(0, workers).Select(_ => CacheClient.Connect(endpoint, options)).ToArray();
        _buffers = Enumerable.Range(0, workers).Select(_ => Memory<byte>.Empty).ToArray();
        _ns = await _clients[0].DeclareNamespaceAsync(new NamespaceDescriptor
        {
            Model = "perf/peers", Revision = "1", Dtype = "bfloat16", Layout = "bench", TpRank = 0, TpSize = 1, TokensPerBlock = 16,
        }, cancellationToken: cancellationToken);
    }

    public async ValueTask<bool> SetAsync(int worker, long id, ReadOnlyMemory<byte> value, CancellationToken cancellationToken)
    {
        var results = await _clients[worker].BatchPutAsync(_ns!, [new KvItem(keys.Ascii(id), value)], cancellationToken);
        return results[0].Code == StatusCode.OK;
    }

    public async ValueTask<GetOutcome> GetAsync(int worker, long id, int valueBytes, CancellationToken cancellationToken)
    {
        if (_buffers[worker].Length < valueBytes) _buffers[worker] = NewBuffer(valueBytes);
        var buffer = _buffers[worker][..valueBytes];
        var results = await _clients[worker].BatchGetIntoAsync(_ns!, [keys.Ascii(id)], [buffer], cancellationToken);
        var r = results[0];
        if (!r.Hit) return r.Code == StatusCode.NotFound ? GetOutcome.Miss : throw new InvalidOperationException($"node GET failed: {r.Code} {r.Message}");
        return r.Length == valueBytes && ValuePattern.Verify(buffer.Span, id, valueBytes) ? GetOutcome.Hit : GetOutcome.Mismatch;
    }

    private Memory<byte> NewBuffer(int bytes)
    {
        if (!sharedBuffers) return new byte[bytes];
        var shared = SharedBuffer.Allocate(bytes, "perf-peers");
        lock (_shared) _shared.Add(shared);
        return shared.Memory;
    }

    public ValueTask DisposeAsync()
    {
        foreach (var c in _clients) c.Dispose();
        foreach (var b in _shared) b.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>Redis or Garnet through StackExchange.Redis: SET, and GET into a pooled lease (no per-value array).</summary>
public sealed class RedisTarget(string name, int port, KeySet keys) : IKvTarget
{
    private ConnectionMultiplexer[] _connections = [];
    private IDatabase[] _databases = [];

    public string Name => name;

    public async Task ConnectAsync(int workers, CancellationToken cancellationToken)
    {
        var config = new ConfigurationOptions
        {
            EndPoints = { new IPEndPoint(IPAddress.Loopback, port) },
            AbortOnConnectFail = true,
            ConnectTimeout = 10_000,
            SyncTimeout = 60_000,
            AsyncTimeout = 60_000,
            // No CLIENT SETNAME/INFO chatter beyond what the client needs.
            ClientName = "perf-peers",
        };
        _connections = new ConnectionMultiplexer[workers];
        for (int i = 0; i < workers; i++) _connections[i] = await ConnectionMultiplexer.ConnectAsync(config);
        _databases = _connections.Select(c => c.GetDatabase()).ToArray();
    }

    public async ValueTask<bool> SetAsync(int worker, long id, ReadOnlyMemory<byte> value, CancellationToken cancellationToken)
        => await _databases[worker].StringSetAsync(keys.Redis(id), value);

    public async ValueTask<GetOutcome> GetAsync(int worker, long id, int valueBytes, CancellationToken cancellationToken)
    {
        using var lease = await _databases[worker].StringGetLeaseAsync(keys.Redis(id));
        if (lease is null) return GetOutcome.Miss;
        return ValuePattern.Verify(lease.Span, id, valueBytes) ? GetOutcome.Hit : GetOutcome.Mismatch;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var c in _connections) await c.DisposeAsync();
    }
}

/// <summary>memcached through its meta protocol (ms/mg), one socket per worker, values read straight into a reused buffer.</summary>
public sealed class MemcachedTarget(string name, int port, KeySet keys) : IKvTarget
{
    private MetaConnection[] _connections = [];

    public string Name => name;

    public async Task ConnectAsync(int workers, CancellationToken cancellationToken)
    {
        _connections = new MetaConnection[workers];
        for (int i = 0; i < workers; i++) _connections[i] = await MetaConnection.ConnectAsync(port, cancellationToken);
    }

    public ValueTask<bool> SetAsync(int worker, long id, ReadOnlyMemory<byte> value, CancellationToken cancellationToken)
        => _connections[worker].SetAsync(keys.Ascii(id), value, cancellationToken);

    public async ValueTask<GetOutcome> GetAsync(int worker, long id, int valueBytes, CancellationToken cancellationToken)
    {
        var value = await _connections[worker].GetAsync(keys.Ascii(id), cancellationToken);
        if (value is null) return GetOutcome.Miss;
        return ValuePattern.Verify(value.Value.Span, id, valueBytes) ? GetOutcome.Hit : GetOutcome.Mismatch;
    }

    /// <summary>The server's "stats" as name/value pairs.</summary>
    public Task<Dictionary<string, string>> StatsAsync(CancellationToken cancellationToken) => _connections[0].StatsAsync(cancellationToken);

    public ValueTask DisposeAsync()
    {
        foreach (var c in _connections) c.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// Redis or Garnet through a minimal RESP2 client of this harness (SET, GET into a reused buffer): a
/// cross-check that StackExchange.Redis is not what limits a peer.
/// </summary>
public sealed class RespTarget(string name, int port, KeySet keys) : IKvTarget
{
    private RespConnection[] _connections = [];

    public string Name => name;

    public async Task ConnectAsync(int workers, CancellationToken cancellationToken)
    {
        _connections = new RespConnection[workers];
        for (int i = 0; i < workers; i++) _connections[i] = await RespConnection.ConnectAsync(port, cancellationToken);
    }

    public ValueTask<bool> SetAsync(int worker, long id, ReadOnlyMemory<byte> value, CancellationToken cancellationToken)
        => _connections[worker].SetAsync(keys.Ascii(id), value, cancellationToken);

    public async ValueTask<GetOutcome> GetAsync(int worker, long id, int valueBytes, CancellationToken cancellationToken)
    {
        var value = await _connections[worker].GetAsync(keys.Ascii(id), cancellationToken);
        if (value is null) return GetOutcome.Miss;
        return ValuePattern.Verify(value.Value.Span, id, valueBytes) ? GetOutcome.Hit : GetOutcome.Mismatch;
    }

    public ValueTask DisposeAsync()
    {
        foreach (var c in _connections) c.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>Socket plumbing of a line-and-bulk text protocol: lines, exact reads into a reused value buffer.</summary>
public abstract class TextConnection : IDisposable
{
    protected static readonly byte[] CrLf = "\r\n"u8.ToArray();
    private readonly Socket _socket;
    private readonly byte[] _in = new byte[64 * 1024];
    protected readonly byte[] HeaderBuffer = new byte[512];
    private byte[] _value = new byte[1024 * 1024 + 2];
    private int _start, _end;

    protected TextConnection(Socket socket) => _socket = socket;

    protected static async Task<Socket> ConnectSocketAsync(int port, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken);
        return socket;
    }

    /// <summary>Reads <paramref name="length"/> bytes plus the CRLF after them; the value stays valid until the next call.</summary>
    protected async ValueTask<ReadOnlyMemory<byte>> ReadValueAsync(int length, CancellationToken ct)
    {
        if (_value.Length < length + 2) _value = new byte[length + 2];
        await ReadExactlyAsync(_value.AsMemory(0, length + 2), ct);
        return _value.AsMemory(0, length);
    }

    public void Dispose() => _socket.Dispose();

    protected async ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        while (!data.IsEmpty)
        {
            int sent = await _socket.SendAsync(data, SocketFlags.None, ct);
            data = data[sent..];
        }
    }

    protected async ValueTask<string> ReadLineAsync(CancellationToken ct)
    {
        while (true)
        {
            int newline = _in.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var line = Encoding.ASCII.GetString(_in, _start, newline > 0 && _in[_start + newline - 1] == '\r' ? newline - 1 : newline);
                _start += newline + 1;
                return line;
            }
            if (_start > 0)
            {
                Buffer.BlockCopy(_in, _start, _in, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            if (_end == _in.Length) throw new InvalidOperationException("the server sent a line longer than 64 KiB");
            int got = await _socket.ReceiveAsync(_in.AsMemory(_end), SocketFlags.None, ct);
            if (got == 0) throw new IOException("the server closed the connection");
            _end += got;
        }
    }

    private async ValueTask ReadExactlyAsync(Memory<byte> destination, CancellationToken ct)
    {
        int buffered = Math.Min(_end - _start, destination.Length);
        _in.AsMemory(_start, buffered).CopyTo(destination);
        _start += buffered;
        destination = destination[buffered..];
        while (!destination.IsEmpty)
        {
            int got = await _socket.ReceiveAsync(destination, SocketFlags.None, ct);
            if (got == 0) throw new IOException("the server closed the connection");
            destination = destination[got..];
        }
    }

    /// <summary>Writes verb, key, optional length and tail into the header buffer; returns its length.</summary>
    protected int Header(ReadOnlySpan<byte> verb, byte[] key, int length, ReadOnlySpan<byte> tail)
    {
        var span = HeaderBuffer.AsSpan();
        verb.CopyTo(span);
        int n = verb.Length;
        key.CopyTo(span[n..]);
        n += key.Length;
        if (length >= 0)
        {
            span[n++] = (byte)' ';
            Utf8Formatter.TryFormat(length, span[n..], out int written);
            n += written;
        }
        tail.CopyTo(span[n..]);
        return n + tail.Length;
    }
}

/// <summary>RESP2: SET as "*3 $3 SET $K key $N" + data, GET answered by "$N" + data or "$-1".</summary>
public sealed class RespConnection : TextConnection
{
    private RespConnection(Socket socket) : base(socket)
    {
    }

    public static async Task<RespConnection> ConnectAsync(int port, CancellationToken cancellationToken)
        => new(await ConnectSocketAsync(port, cancellationToken));

    public async ValueTask<bool> SetAsync(byte[] key, ReadOnlyMemory<byte> value, CancellationToken ct)
    {
        int n = Command("*3\r\n$3\r\nSET\r\n"u8, key, value.Length);
        await SendAsync(HeaderBuffer.AsMemory(0, n), ct);
        await SendAsync(value, ct);
        await SendAsync(CrLf, ct);
        var line = await ReadLineAsync(ct);
        return line == "+OK" ? true : throw new InvalidOperationException($"SET answered '{line}'");
    }

    public async ValueTask<ReadOnlyMemory<byte>?> GetAsync(byte[] key, CancellationToken ct)
    {
        int n = Command("*2\r\n$3\r\nGET\r\n"u8, key, -1);
        await SendAsync(HeaderBuffer.AsMemory(0, n), ct);
        var line = await ReadLineAsync(ct);
        if (line == "$-1") return null;
        if (!line.StartsWith('$')) throw new InvalidOperationException($"GET answered '{line}'");
        return await ReadValueAsync(int.Parse(line.AsSpan(1), CultureInfo.InvariantCulture), ct);
    }

    /// <summary>"prefix $K\r\nkey\r\n" and, for a value, "$N\r\n".</summary>
    private int Command(ReadOnlySpan<byte> prefix, byte[] key, int valueLength)
    {
        var span = HeaderBuffer.AsSpan();
        prefix.CopyTo(span);
        int n = prefix.Length;
        span[n++] = (byte)'$';
        Utf8Formatter.TryFormat(key.Length, span[n..], out int w);
        n += w;
        CrLf.CopyTo(span[n..]);
        n += 2;
        key.CopyTo(span[n..]);
        n += key.Length;
        CrLf.CopyTo(span[n..]);
        n += 2;
        if (valueLength >= 0)
        {
            span[n++] = (byte)'$';
            Utf8Formatter.TryFormat(valueLength, span[n..], out w);
            n += w;
            CrLf.CopyTo(span[n..]);
            n += 2;
        }
        return n;
    }
}

/// <summary>
/// A memcached meta-protocol connection (memcached 1.6): "ms KEY LEN T0" / "HD" or "NS"; "mg KEY v" /
/// "VA LEN" + data, or "EN" on a miss.
/// </summary>
public sealed class MetaConnection : TextConnection
{
    private MetaConnection(Socket socket) : base(socket)
    {
    }

    public static async Task<MetaConnection> ConnectAsync(int port, CancellationToken cancellationToken)
        => new(await ConnectSocketAsync(port, cancellationToken));

    public async ValueTask<bool> SetAsync(byte[] key, ReadOnlyMemory<byte> value, CancellationToken ct)
    {
        int n = Header("ms "u8, key, value.Length, " T0\r\n"u8);
        await SendAsync(HeaderBuffer.AsMemory(0, n), ct);
        await SendAsync(value, ct);
        await SendAsync(CrLf, ct);
        var line = await ReadLineAsync(ct);
        if (line.StartsWith("HD", StringComparison.Ordinal)) return true;
        if (line.StartsWith("NS", StringComparison.Ordinal)) return false;
        throw new InvalidOperationException($"memcached answered '{line}' to ms");
    }

    public async ValueTask<ReadOnlyMemory<byte>?> GetAsync(byte[] key, CancellationToken ct)
    {
        int n = Header("mg "u8, key, -1, " v\r\n"u8);
        await SendAsync(HeaderBuffer.AsMemory(0, n), ct);
        var line = await ReadLineAsync(ct);
        if (line.StartsWith("EN", StringComparison.Ordinal)) return null;
        if (!line.StartsWith("VA ", StringComparison.Ordinal)) throw new InvalidOperationException($"memcached answered '{line}' to mg");
        var lengthText = line.AsSpan(3);
        int space = lengthText.IndexOf(' ');
        return await ReadValueAsync(int.Parse(space < 0 ? lengthText : lengthText[..space], CultureInfo.InvariantCulture), ct);
    }

    public async Task<Dictionary<string, string>> StatsAsync(CancellationToken ct)
    {
        await SendAsync("stats\r\n"u8.ToArray(), ct);
        var stats = new Dictionary<string, string>(StringComparer.Ordinal);
        for (string line; (line = await ReadLineAsync(ct)) != "END";)
        {
            var parts = line.Split(' ', 3);
            if (parts.Length == 3 && parts[0] == "STAT") stats[parts[1]] = parts[2];
        }
        return stats;
    }
}
