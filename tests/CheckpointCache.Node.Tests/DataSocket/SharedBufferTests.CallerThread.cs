using System.Net.Sockets;
using CheckpointCache.Client;
using CheckpointCache.Client.DataSocket;
using CheckpointCache.Client.SharedMemory;
using CheckpointCache.Node.Tests.Infrastructure;
using CheckpointCache.Rpc.Kv.V1;
using Grpc.Core;
using static CheckpointCache.Node.Tests.Infrastructure.LimitedNodeFixture;

namespace CheckpointCache.Node.Tests.DataSocket;

/// <summary>
/// The synchronous BatchGetInto, for callers on threads of their own: it waits for the node's answer in poll() on
/// the calling thread. Same values and statuses as BatchGetIntoAsync; a node that never answers ends the call at its
/// deadline or at cancellation, not never.
/// </summary>
public sealed partial class SharedBufferTests
{
    /// <summary>Runs <paramref name="call"/> on a thread of its own, as a loader thread would; bounded so a hang fails the test.</summary>
    private static async Task<T> OnOwnThread<T>(Func<T> call)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() =>
        {
            try { done.SetResult(call()); }
            catch (Exception e) { done.SetException(e); }
        }) { IsBackground = true, Name = "test loader" }.Start();
        return await done.Task.WaitAsync(TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task TheSynchronousGetIntoFillsSharedPlacesAndOrdinaryMemoryByteForByte()
    {
        var sizes = new[] { 1, 65_535, 1_000_003, MaxValueBytes };
        var items = sizes.Select((n, i) => new KvItem(TestData.Key($"caller-thread-{i}"), TestData.Value(700 + i, n))).ToList();
        foreach (var chunk in items.Chunk(2)) Assert.All(await _grpc.BatchPutAsync(_ns, chunk), r => Assert.True(r.Ok, r.Message));
        using var buffer = SharedBuffer.Allocate(8 * 1024 * 1024, _name);
        buffer.Memory.Span.Fill(0xEE);
        var places = new List<Memory<byte>>();
        int offset = 0;
        foreach (var n in sizes)
        {
            places.Add(buffer.Memory.Slice(offset, n + 10));
            offset += n + 10;
        }
        var keys = items.Select(i => i.Key).Append(TestData.Key("caller-thread-absent")).ToList();
        var small = buffer.Memory.Slice(offset, 100);
        var got = await OnOwnThread(() => _client.BatchGetInto(_ns, keys.Take(2).ToList(), places.Take(2).ToList()));
        var got2 = await OnOwnThread(() => _client.BatchGetInto(_ns, keys.Skip(2).Append(items[2].Key).ToList(), [.. places.Skip(2), buffer.Memory.Slice(offset + 4096, 4096), small]));
        for (int i = 0; i < sizes.Length; i++)
        {
            var result = i < 2 ? got[i] : got2[i - 2];
            Assert.True(result.Hit, result.Message);
            Assert.Equal(Tier.Ram, result.Tier);
            Assert.Equal(sizes[i], result.Length);
            Assert.Equal(items[i].Value.ToArray(), places[i][..sizes[i]].ToArray());
            Assert.All(places[i][sizes[i]..].ToArray(), b => Assert.Equal(0xEE, b));
        }
        Assert.Equal(StatusCode.NotFound, got2[2].Code);
        Assert.Equal(StatusCode.OutOfRange, got2[3].Code);
        Assert.All(small.ToArray(), b => Assert.Equal(0xEE, b));
        // The node mapped the buffer: the values were written into it, not sent through the socket.
        Assert.Equal(2, Mappings());

        // Memory that is not shared comes through the socket, on the same calling thread.
        var ordinary = sizes.Select(n => new byte[n]).ToArray();
        var viaSocket = await OnOwnThread(() => _client.BatchGetInto(_ns, items.Select(i => i.Key).ToList(), ordinary.Select(b => (Memory<byte>)b).ToList()));
        Assert.All(viaSocket, r => Assert.True(r.Hit, r.Message));
        for (int i = 0; i < sizes.Length; i++) Assert.Equal(items[i].Value.ToArray(), ordinary[i]);
    }

    [Fact]
    public async Task OnAWarmConnectionTheCallerWaitsInPollAndANodeThatNeverAnswersEndsItAtItsDeadlineOrCancellation()
    {
        var path = Path.Combine(Path.GetTempPath(), $"cc-silent-{Guid.NewGuid():N}.sock");
        using var silent = new ScriptedDataSocket(path, closeOnGet: false);
        using var buffer = SharedBuffer.Allocate(1024 * 1024, _name);
        var key = TestData.Key("caller-thread-silent");

        using (var client = fixture.Node.Connect(options: new CacheClientOptions { DataSocketPath = path, CallTimeout = TimeSpan.FromSeconds(5) }))
        {
            // The first call registers the buffer and is answered (a miss); the second, on the same connection, is not.
            var first = await OnOwnThread(() => client.BatchGetInto(_ns, [key], [buffer.Memory[..4096]]));
            Assert.Equal(StatusCode.NotFound, first[0].Code);
            int loaderThread = 0;
            var late = Assert.ThrowsAsync<RpcException>(() => OnOwnThread(() =>
            {
                Volatile.Write(ref loaderThread, LinuxThread.Id());
                return client.BatchGetInto(_ns, [key], [buffer.Memory[..4096]]);
            }));
            await Eventually.UntilAsync(() => Task.FromResult(silent.GetCallsSeen == 2), "the second call reaches the data socket");
            // While it waits, the calling thread itself sleeps in poll(), not in a wait for another thread.
            await Eventually.UntilAsync(() => Task.FromResult(LinuxThread.IsInPoll(Volatile.Read(ref loaderThread))), "the caller's thread sleeps in poll()");
            Assert.Equal(StatusCode.DeadlineExceeded, (await late).StatusCode);
        }

        using var patient = fixture.Node.Connect(options: new CacheClientOptions { DataSocketPath = path, CallTimeout = TimeSpan.FromMinutes(5) });
        Assert.Equal(StatusCode.NotFound, (await OnOwnThread(() => patient.BatchGetInto(_ns, [key], [buffer.Memory[..4096]])))[0].Code);
        using var cancel = new CancellationTokenSource();
        var cancelled = Assert.ThrowsAsync<RpcException>(() => OnOwnThread(() => patient.BatchGetInto(_ns, [key], [buffer.Memory[..4096]], cancel.Token)));
        await Eventually.UntilAsync(() => Task.FromResult(silent.GetCallsSeen == 4), "the silent call reaches the data socket");
        await cancel.CancelAsync();
        Assert.Equal(StatusCode.Cancelled, (await cancelled).StatusCode);
        Assert.Null(silent.Fault);
    }

    [Fact]
    public async Task ADataSocketThatClosesMidCallSendsTheSynchronousGetIntoOverGrpc()
    {
        var value = TestData.Value(31, 700_000);
        var key = TestData.Key("caller-thread-fallback");
        Assert.True((await _grpc.BatchPutAsync(_ns, [new(key, value)]))[0].Ok);
        var path = Path.Combine(Path.GetTempPath(), $"cc-closing-{Guid.NewGuid():N}.sock");
        using var closing = new ScriptedDataSocket(path, closeOnGet: true);
        using var client = fixture.Node.Connect(options: new CacheClientOptions { DataSocketPath = path });
        using var buffer = SharedBuffer.Allocate(1024 * 1024, _name);
        buffer.Memory.Span.Fill(0xEE);

        var got = await OnOwnThread(() => client.BatchGetInto(_ns, [key], [buffer.Memory[..800_000]]));
        Assert.True(got[0].Hit, got[0].Message);
        Assert.Equal(value.Length, got[0].Length);
        Assert.Equal(value, buffer.Memory[..value.Length].ToArray());
        Assert.Equal(1, closing.GetCallsSeen);
        Assert.Null(closing.Fault);
    }

    /// <summary>Linux thread ids and what a thread sleeps in, from /proc.</summary>
    private static partial class LinuxThread
    {
        [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "gettid")]
        public static partial int Id();

        /// <summary>Whether the thread is blocked in poll or ppoll: /proc's syscall file starts with the call's number.</summary>
        public static bool IsInPoll(int tid)
        {
            if (tid == 0) return false;
            string[] fields;
            try { fields = File.ReadAllText($"/proc/self/task/{tid}/syscall").Split(' '); }
            catch (IOException) { return false; }
            int[] pollCalls = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture switch
            {
                System.Runtime.InteropServices.Architecture.X64 => [7, 271],
                System.Runtime.InteropServices.Architecture.Arm64 => [73],
                _ => [],
            };
            return int.TryParse(fields[0], out int call) && pollCalls.Contains(call);
        }
    }

    /// <summary>
    /// A data socket that accepts shared buffers as the node does (go-ahead, descriptor, id) and answers the first
    /// BatchGet of each connection with misses; a later one it never answers (a node stuck mid-call), or, with
    /// <c>closeOnGet</c>, every BatchGet closes the connection once its request is read (a node that died).
    /// </summary>
    private sealed class ScriptedDataSocket : IDisposable
    {
        private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        private readonly CancellationTokenSource _stop = new();
        private readonly string _path;
        private readonly bool _closeOnGet;
        private readonly List<WireConnection> _connections = [];
        private int _getCalls;

        public ScriptedDataSocket(string path, bool closeOnGet)
        {
            _path = path;
            _closeOnGet = closeOnGet;
            _listener.Bind(new UnixDomainSocketEndPoint(path));
            _listener.Listen(8);
            _ = AcceptAsync();
        }

        public int GetCallsSeen => Volatile.Read(ref _getCalls);

        /// <summary>What went wrong on the server's side (a request it did not expect), for the test to see.</summary>
        public Exception? Fault { get; private set; }

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var wire = new WireConnection(await _listener.AcceptAsync(_stop.Token));
                    lock (_connections) _connections.Add(wire);
                    _ = ServeAsync(wire);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
            }
        }

        private async Task ServeAsync(WireConnection wire)
        {
            var ct = _stop.Token;
            int gets = 0;
            try
            {
                while (await wire.WaitForFrameAsync(ct))
                {
                    if (await wire.ReadUInt32Async(ct) != DataWire.RequestMagic) throw new InvalidDataException("not a request");
                    byte op = await wire.ReadByteAsync(ct);
                    await wire.SkipAsync(3, ct);
                    uint namespaceBytes = await wire.ReadUInt32Async(ct);
                    uint count = await wire.ReadUInt32Async(ct);
                    await wire.SkipAsync(namespaceBytes, ct);
                    if (op == DataWire.OpRegisterBuffer)
                    {
                        await wire.ReadUInt64Async(ct);
                        Ok(wire);
                        await wire.FlushAsync(ct);
                        await wire.SkipAsync(1, ct); // the byte that carries the memfd, which is closed unread
                        Ok(wire);
                        wire.WriteUInt32(1);
                        await wire.FlushAsync(ct);
                        continue;
                    }
                    if (op != DataWire.OpGetShared) throw new InvalidDataException($"op {op} was not expected");
                    for (int i = 0; i < count; i++)
                    {
                        await wire.ReadShortBytesAsync(ct);
                        await wire.SkipAsync(4 + 8 + 8, ct);
                    }
                    Interlocked.Increment(ref _getCalls);
                    if (_closeOnGet)
                    {
                        wire.Socket.Shutdown(SocketShutdown.Both);
                        return;
                    }
                    if (++gets > 1) return; // never answers; the connection stays open until the client gives up
                    Ok(wire);
                    wire.WriteUInt32(count);
                    for (int i = 0; i < count; i++)
                    {
                        wire.WriteInt32((int)StatusCode.NotFound);
                        wire.WriteByte(0);
                        wire.WriteString("");
                        wire.WriteUInt64(0);
                    }
                    await wire.FlushAsync(ct);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException or EndOfStreamException)
            {
            }
            catch (Exception e)
            {
                Fault = e;
            }
        }

        private static void Ok(WireConnection wire)
        {
            wire.WriteUInt32(DataWire.ResponseMagic);
            wire.WriteInt32(0);
            wire.WriteString("");
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Dispose();
            lock (_connections) foreach (var wire in _connections) wire.Dispose();
            File.Delete(_path);
        }
    }
}
