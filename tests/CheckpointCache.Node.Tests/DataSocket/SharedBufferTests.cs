using System.Runtime.InteropServices;
using CheckpointCache.Client;
using CheckpointCache.Client.DataSocket;
using CheckpointCache.Client.SharedMemory;
using CheckpointCache.Node.Tests.Infrastructure;
using CheckpointCache.Rpc.Kv.V1;
using Google.Protobuf;
using Grpc.Core;
using static CheckpointCache.Node.Tests.Infrastructure.LimitedNodeFixture;

namespace CheckpointCache.Node.Tests.DataSocket;

/// <summary>
/// Shared buffers on the data socket: the node maps the client's sealed memfd and writes values into it or reads
/// them out of it. Values match gRPC's byte for byte; misplaced items, unsealed or missing descriptors and limits
/// get statuses that name them; the node unmaps when the connection closes and stays up.
/// </summary>
public sealed partial class SharedBufferTests(LimitedNodeFixture fixture) : IClassFixture<LimitedNodeFixture>, IAsyncLifetime
{
    private CacheClient _client = null!;
    private CacheClient _grpc = null!;
    private KvNamespace _ns = null!;
    private string _path = null!;
    private readonly string _name = "cc-test-" + Guid.NewGuid().ToString("N")[..8];

    public async Task InitializeAsync()
    {
        _client = fixture.Node.Connect();
        _grpc = fixture.Node.Connect(options: new CacheClientOptions { UseDataSocket = false });
        _ns = await TestData.DeclareAsync(_client, "shared-buffers");
        _path = (await _client.GetInfoAsync()).DataSocket;
    }

    public async Task DisposeAsync()
    {
        var key = TestData.Key("alive-" + Guid.NewGuid().ToString("N")[..6]);
        var value = TestData.Value(7, 300_000);
        Assert.True((await _client.BatchPutAsync(_ns, [new(key, value)]))[0].Ok);
        Assert.Equal(value, (await _client.BatchGetAsync(_ns, [key]))[0].Value);
        _client.Dispose();
        _grpc.Dispose();
    }

    /// <summary>How many mappings of this test's memfds the process holds (the client's and, in-process, the node's).</summary>
    private int Mappings() => File.ReadAllLines("/proc/self/maps").Count(l => l.Contains("/memfd:" + _name, StringComparison.Ordinal));

    [Fact]
    public async Task ValuesPutFromAndReadIntoSharedBuffersMatchGrpcByteForByte()
    {
        var sizes = new[] { 1, 65_535, 1_000_003, MaxValueBytes };
        using var buffer = SharedBuffer.Allocate(8 * 1024 * 1024, _name);
        Assert.Equal(1, Mappings());
        var values = sizes.Select((n, i) => TestData.Value(300 + i, n)).ToList();
        int offset = 0;
        var items = new List<KvItem>();
        for (int i = 0; i < values.Count; i++)
        {
            values[i].CopyTo(buffer.Memory[offset..]);
            items.Add(new KvItem(TestData.Key($"shared-put-{i}"), buffer.Memory.Slice(offset, values[i].Length)));
            offset += values[i].Length;
        }
        foreach (var chunk in items.Chunk(2)) Assert.All(await _client.BatchPutAsync(_ns, chunk), r => Assert.True(r.Ok, r.Message));
        // The node mapped the buffer: the values came out of it, not through the socket.
        Assert.Equal(2, Mappings());
        for (int i = 0; i < values.Count; i++)
            Assert.Equal(values[i], (await _grpc.BatchGetAsync(_ns, [items[i].Key]))[0].Value);

        var fromGrpc = sizes.Select((n, i) => new KvItem(TestData.Key($"grpc-put-{i}"), TestData.Value(400 + i, n))).ToList();
        foreach (var chunk in fromGrpc.Chunk(2)) Assert.All(await _grpc.BatchPutAsync(_ns, chunk), r => Assert.True(r.Ok, r.Message));
        buffer.Memory.Span.Fill(0xEE);
        var places = new List<Memory<byte>>();
        offset = 0;
        foreach (var n in sizes)
        {
            places.Add(buffer.Memory.Slice(offset, n + 10));
            offset += n + 10;
        }
        var got = await _client.BatchGetIntoAsync(_ns, fromGrpc.Take(2).Select(i => i.Key).ToList(), places.Take(2).ToList());
        var got2 = await _client.BatchGetIntoAsync(_ns, fromGrpc.Skip(2).Select(i => i.Key).ToList(), places.Skip(2).ToList());
        foreach (var (result, i) in got.Concat(got2).Select((r, i) => (r, i)))
        {
            Assert.True(result.Hit, result.Message);
            Assert.Equal(Tier.Ram, result.Tier);
            Assert.Equal(sizes[i], result.Length);
            Assert.Equal(fromGrpc[i].Value.ToArray(), places[i][..sizes[i]].ToArray());
            // Nothing past the value was written.
            Assert.All(places[i][sizes[i]..].ToArray(), b => Assert.Equal(0xEE, b));
        }
        Assert.Equal(2, Mappings());

        // Closing the client's connections is what makes the node unmap.
        _client.Dispose();
        await Eventually.UntilAsync(() => Task.FromResult(Mappings() == 1), "the node unmaps the buffer once the connection closes");
        _client = fixture.Node.Connect();
    }

    [Fact]
    public async Task AValueLongerThanItsPlaceIsOutOfRangeAndAMissIsNotFoundWritingNothing()
    {
        var value = TestData.Value(9, 500_000);
        Assert.True((await _grpc.BatchPutAsync(_ns, [new(TestData.Key("long"), value)]))[0].Ok);
        using var buffer = SharedBuffer.Allocate(1024 * 1024, _name);
        var small = buffer.Memory[..1000];
        var other = buffer.Memory.Slice(4096, 1000);
        var got = await _client.BatchGetIntoAsync(_ns, [TestData.Key("long"), TestData.Key("absent")], [small, other]);
        Assert.Equal(StatusCode.OutOfRange, got[0].Code);
        Assert.Contains("destination holds 1000", got[0].Message);
        Assert.Equal(StatusCode.NotFound, got[1].Code);
        Assert.All(buffer.Memory.ToArray(), b => Assert.Equal(0, b));
        Assert.Equal(2, Mappings());
    }

    [Fact]
    public async Task PlacesOutsideTheBufferOrInAnUnknownOneAreRefusedPerItem()
    {
        using var buffer = SharedBuffer.Allocate(1024 * 1024, _name);
        using var wire = await WireConnection.ConnectAsync(_path, CancellationToken.None);
        uint id = await RegisterAsync(wire, buffer.Length, buffer);
        TestData.Value(10, 1000).CopyTo(buffer.Memory);

        await wire.WriteRequestHeaderAsync(DataWire.OpPutShared, _ns.ToRef().ToByteArray(), 3, CancellationToken.None);
        Place(wire, "outside", id, (ulong)buffer.Length - 10, 1000);
        Place(wire, "unknown", id + 7, 0, 1000);
        Place(wire, "inside", id, 0, 1000);
        await wire.FlushAsync(CancellationToken.None);
        await ExpectStatusAsync(wire, StatusCode.OK);
        Assert.Equal(3u, await wire.ReadUInt32Async(CancellationToken.None));
        var put = new List<(uint Code, string Message)>();
        for (int i = 0; i < 3; i++)
        {
            uint code = await wire.ReadUInt32Async(CancellationToken.None);
            await wire.ReadUInt32Async(CancellationToken.None);
            put.Add((code, await wire.ReadStringAsync(CancellationToken.None)));
        }
        Assert.Equal((uint)StatusCode.InvalidArgument, put[0].Code);
        Assert.Contains($"outside shared buffer {id} ({buffer.Length} bytes)", put[0].Message);
        Assert.Equal((uint)StatusCode.InvalidArgument, put[1].Code);
        Assert.Contains("was not registered on this connection", put[1].Message);
        Assert.Equal(0u, put[2].Code);
        Assert.Equal(TestData.Value(10, 1000), (await _grpc.BatchGetAsync(_ns, [TestData.Key("inside")]))[0].Value);
        Assert.Equal(Tier.None, (await _grpc.ExistsAsync(_ns, [TestData.Key("outside")]))[0]);

        await wire.WriteRequestHeaderAsync(DataWire.OpGetShared, _ns.ToRef().ToByteArray(), 2, CancellationToken.None);
        Place(wire, "inside", id, (ulong)buffer.Length, 1);
        Place(wire, "inside", id, 5000, 1000);
        await wire.FlushAsync(CancellationToken.None);
        await ExpectStatusAsync(wire, StatusCode.OK);
        Assert.Equal(2u, await wire.ReadUInt32Async(CancellationToken.None));
        Assert.Equal((uint)StatusCode.InvalidArgument, await wire.ReadUInt32Async(CancellationToken.None));
        await wire.ReadByteAsync(CancellationToken.None);
        Assert.Contains("outside shared buffer", await wire.ReadStringAsync(CancellationToken.None));
        Assert.Equal(0ul, await wire.ReadUInt64Async(CancellationToken.None));
        Assert.Equal(0u, await wire.ReadUInt32Async(CancellationToken.None));
        await wire.ReadByteAsync(CancellationToken.None);
        await wire.ReadStringAsync(CancellationToken.None);
        Assert.Equal(1000ul, await wire.ReadUInt64Async(CancellationToken.None));
        Assert.Equal(TestData.Value(10, 1000), buffer.Memory.Slice(5000, 1000).ToArray());
    }

    [Fact]
    public async Task AnUnsealedMemfdOrAByteWithoutADescriptorIsInvalidArgument()
    {
        int fd = MemfdCreate(_name, 1);
        Assert.True(fd >= 0);
        try
        {
            Assert.Equal(0, Ftruncate(fd, 4096));
            using var wire = await WireConnection.ConnectAsync(_path, CancellationToken.None);
            await StartRegistrationAsync(wire, 4096);
            LinuxMemory.SendDescriptor((int)wire.Socket.Handle, fd, 5000);
            await ExpectStatusAsync(wire, StatusCode.InvalidArgument, "F_SEAL_SHRINK");
            Assert.False(await wire.WaitForFrameAsync(CancellationToken.None));
        }
        finally
        {
            LinuxMemory.Close(fd);
        }

        using var bare = await WireConnection.ConnectAsync(_path, CancellationToken.None);
        await StartRegistrationAsync(bare, 4096);
        await bare.Socket.SendAsync(new byte[] { 1 }, SocketFlagsNone);
        await ExpectStatusAsync(bare, StatusCode.InvalidArgument, "carried no descriptor");
        Assert.Equal(0, Mappings());
    }

    [Fact]
    public async Task RegistrationsPastTheLimitsAreRefusedAndTheClientFallsBackToTheSocket()
    {
        using var tooBig = SharedBuffer.Allocate(MaxSharedBufferBytes + 1, _name);
        using (var wire = await WireConnection.ConnectAsync(_path, CancellationToken.None))
        {
            await wire.WriteRequestHeaderAsync(DataWire.OpRegisterBuffer, [], 0, CancellationToken.None);
            wire.WriteUInt64((ulong)tooBig.Length);
            await wire.FlushAsync(CancellationToken.None);
            await ExpectStatusAsync(wire, StatusCode.ResourceExhausted, "Limits:MaxSharedBufferBytes");
        }

        var buffers = Enumerable.Range(0, MaxSharedBuffers + 1).Select(_ => SharedBuffer.Allocate(64 * 1024, _name)).ToList();
        try
        {
            using (var wire = await WireConnection.ConnectAsync(_path, CancellationToken.None))
            {
                for (int i = 0; i < MaxSharedBuffers; i++) Assert.Equal((uint)i, await RegisterAsync(wire, buffers[i].Length, buffers[i]));
                await wire.WriteRequestHeaderAsync(DataWire.OpRegisterBuffer, [], 0, CancellationToken.None);
                wire.WriteUInt64((ulong)buffers[^1].Length);
                await wire.FlushAsync(CancellationToken.None);
                await ExpectStatusAsync(wire, StatusCode.ResourceExhausted, "Limits:MaxSharedBuffers");
            }

            // One call over more buffers than a connection may register: the values go through the socket instead.
            var keys = buffers.Select((_, i) => (ReadOnlyMemory<byte>)TestData.Key($"many-{i}")).ToList();
            var values = buffers.Select((_, i) => TestData.Value(500 + i, 60_000)).ToList();
            for (int i = 0; i < buffers.Count; i++) values[i].CopyTo(buffers[i].Memory);
            var put = await _client.BatchPutAsync(_ns, keys.Select((k, i) => new KvItem(k, buffers[i].Memory[..60_000])).ToList());
            Assert.All(put, r => Assert.True(r.Ok, r.Message));
            foreach (var b in buffers) b.Memory.Span.Clear();
            var got = await _client.BatchGetIntoAsync(_ns, keys, buffers.Select(b => b.Memory).ToList());
            for (int i = 0; i < buffers.Count; i++)
            {
                Assert.True(got[i].Hit, got[i].Message);
                Assert.Equal(values[i], buffers[i].Memory[..60_000].ToArray());
            }
        }
        finally
        {
            foreach (var b in buffers) b.Dispose();
        }
    }

    private const System.Net.Sockets.SocketFlags SocketFlagsNone = System.Net.Sockets.SocketFlags.None;

    private static void Place(WireConnection wire, string key, uint id, ulong offset, ulong length)
    {
        wire.WriteShortBytes(TestData.Key(key));
        wire.WriteUInt32(id);
        wire.WriteUInt64(offset);
        wire.WriteUInt64(length);
    }

    private static async Task StartRegistrationAsync(WireConnection wire, long bytes)
    {
        await wire.WriteRequestHeaderAsync(DataWire.OpRegisterBuffer, [], 0, CancellationToken.None);
        wire.WriteUInt64((ulong)bytes);
        await wire.FlushAsync(CancellationToken.None);
        await ExpectStatusAsync(wire, StatusCode.OK);
    }

    private static async Task<uint> RegisterAsync(WireConnection wire, long bytes, SharedBuffer buffer)
    {
        await StartRegistrationAsync(wire, bytes);
        LinuxMemory.SendDescriptor((int)wire.Socket.Handle, DescriptorOf(buffer), 5000);
        await ExpectStatusAsync(wire, StatusCode.OK);
        return await wire.ReadUInt32Async(CancellationToken.None);
    }

    /// <summary>The buffer's memfd, found through /proc/self/fd (the client keeps it to itself).</summary>
    private static int DescriptorOf(SharedBuffer buffer)
    {
        foreach (var link in Directory.GetFiles("/proc/self/fd"))
        {
            var target = new FileInfo(link).LinkTarget;
            if (target is not null && target.StartsWith("/memfd:", StringComparison.Ordinal) && int.TryParse(Path.GetFileName(link), out int fd)
                && LinuxMemory.SizeOf(fd) == buffer.Length && SameMemory(fd, buffer)) return fd;
        }
        throw new InvalidOperationException("the buffer's memfd is not open");
    }

    /// <summary>Whether <paramref name="fd"/> is the buffer's memfd: a byte written through the buffer shows through a fresh mapping of the fd.</summary>
    private static bool SameMemory(int fd, SharedBuffer buffer)
    {
        var span = buffer.Memory.Span;
        byte saved = span[^1];
        span[^1] = 0x5A;
        nint mapped = LinuxMemory.Map(fd, buffer.Length);
        try
        {
            unsafe { return ((byte*)mapped)[buffer.Length - 1] == 0x5A; }
        }
        finally
        {
            LinuxMemory.Unmap(mapped, buffer.Length);
            span[^1] = saved;
        }
    }

    private static async Task ExpectStatusAsync(WireConnection wire, StatusCode code, string? naming = null)
    {
        Assert.Equal(DataWire.ResponseMagic, await wire.ReadUInt32Async(CancellationToken.None));
        var got = (StatusCode)await wire.ReadUInt32Async(CancellationToken.None);
        var message = await wire.ReadStringAsync(CancellationToken.None);
        Assert.True(got == code, $"expected {code}, got {got}: {message}");
        if (naming is not null) Assert.Contains(naming, message);
    }

    [LibraryImport("libc", EntryPoint = "memfd_create", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MemfdCreate(string name, uint flags);

    [LibraryImport("libc", EntryPoint = "ftruncate")]
    private static partial int Ftruncate(int fd, long length);
}
