using CheckpointCache.Client;
using CheckpointCache.Client.DataSocket;
using CheckpointCache.Client.Files;
using CheckpointCache.Node.Tests.Infrastructure;
using CheckpointCache.Rpc.Files.V1;
using Grpc.Core;

namespace CheckpointCache.Node.Tests.DataSocket;

/// <summary>
/// Files Write and Read on the data socket (what the mount uses over a Unix socket): the same bytes as gRPC's, the
/// same refusals with the same files-error, and a write stream the node refuses mid-way leaves the call failed, not hung.
/// </summary>
public sealed class DataSocketFilesTests(NodeFixture fixture) : IClassFixture<NodeFixture>, IAsyncLifetime
{
    private CacheClient _kv = null!;
    private CacheClient _kvGrpc = null!;
    private FilesClient _files = null!;
    private FilesClient _grpc = null!;

    public Task InitializeAsync()
    {
        _kv = fixture.Node.Connect();
        _kvGrpc = fixture.Node.Connect(options: new CacheClientOptions { UseDataSocket = false });
        _files = new FilesClient(_kv);
        _grpc = new FilesClient(_kvGrpc);
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        _kv.Dispose();
        _kvGrpc.Dispose();
        return Task.CompletedTask;
    }

    private static string NewPath(string name) => $"/data-socket-{Guid.NewGuid():N}-{name}";

    [Fact]
    public async Task AFileWrittenThroughEitherPathReadsBackThroughTheOtherByteForByte()
    {
        // Larger than one write record (4 MiB) and not a multiple of anything, written in uneven pieces.
        var content = TestData.Value(11, 9_437_201);
        foreach (var (writer, reader) in new[] { (_files, _grpc), (_grpc, _files) })
        {
            var path = NewPath("model.bin");
            var open = await writer.OpenAsync(path, OpenFlags.OpenWrite | OpenFlags.OpenCreate);
            await using (var stream = writer.OpenWriteStream(open.SessionId))
            {
                for (int at = 0; at < content.Length; at += 3_000_017)
                    await stream.WriteAsync(at, content.AsMemory(at, Math.Min(3_000_017, content.Length - at)));
                var done = await stream.CompleteAsync();
                Assert.Equal(content.Length, done.BytesWritten);
                Assert.Equal(content.Length, done.Size);
            }
            await writer.CloseAsync(open.SessionId, commit: true);

            var back = new byte[content.Length + 100];
            var read = await reader.OpenAsync(path, OpenFlags.OpenRead);
            Assert.Equal(content.Length, await reader.ReadAsync(read.SessionId, 0, back));
            Assert.Equal(content, back[..content.Length]);
            // From an offset, and past the end: only what is there.
            var tail = new byte[1_000_000];
            Assert.Equal(437_201, await reader.ReadAsync(read.SessionId, 9_000_000, tail));
            Assert.Equal(content[9_000_000..], tail[..437_201]);
            await reader.CloseAsync(read.SessionId, commit: false);
        }
    }

    [Fact]
    public async Task AnUnknownSessionIsRefusedWithTheSameStatusAndFilesErrorAsOverGrpc()
    {
        foreach (var client in new[] { _files, _grpc })
        {
            var read = await Assert.ThrowsAsync<FilesClientException>(() => client.ReadAsync(987654321, 0, new byte[10]));
            Assert.Equal(StatusCode.NotFound, read.Status);
            Assert.Equal(FilesError.SessionNotFound, read.Error);

            var write = await Assert.ThrowsAsync<FilesClientException>(() => client.WriteAsync(987654321, 0, TestData.Value(1, 100_000)));
            Assert.Equal(StatusCode.NotFound, write.Status);
            Assert.Equal(FilesError.SessionNotFound, write.Error);
        }
    }

    [Fact]
    public async Task ARefusalInTheMiddleOfALargeStreamFailsTheStreamAndTheNodeKeepsServing()
    {
        // A read-only session refuses writes; the refusal comes while megabytes are still being sent.
        var path = NewPath("ro.bin");
        var created = await _files.OpenAsync(path, OpenFlags.OpenWrite | OpenFlags.OpenCreate);
        await _files.WriteAsync(created.SessionId, 0, TestData.Value(2, 1000));
        await _files.CloseAsync(created.SessionId, commit: true);
        var readOnly = await _files.OpenAsync(path, OpenFlags.OpenRead);
        var big = TestData.Value(3, 32 * 1024 * 1024);
        var e = await Assert.ThrowsAsync<FilesClientException>(async () =>
        {
            await using var stream = _files.OpenWriteStream(readOnly.SessionId);
            for (int i = 0; i < 4; i++) await stream.WriteAsync((long)i * big.Length, big);
            await stream.CompleteAsync();
        });
        var viaGrpc = await Assert.ThrowsAsync<FilesClientException>(() => _grpc.WriteAsync(readOnly.SessionId, 0, TestData.Value(4, 10)));
        Assert.Equal(viaGrpc.Status, e.Status);
        Assert.Equal(viaGrpc.Error, e.Error);
        await _files.CloseAsync(readOnly.SessionId, commit: false);

        var back = new byte[1000];
        Assert.Equal(1000, await _files.ReadPathAsync(path, 0, back));
        Assert.Equal(TestData.Value(2, 1000), back);
    }

    [Fact]
    public async Task TheWireAnswersAFilesReadWithSegments()
    {
        var path = NewPath("wire.bin");
        var content = TestData.Value(5, 2_500_000);
        var open = await _grpc.OpenAsync(path, OpenFlags.OpenRead | OpenFlags.OpenWrite | OpenFlags.OpenCreate);
        await _grpc.WriteAsync(open.SessionId, 0, content);

        var dataSocket = (await _kv.GetInfoAsync()).DataSocket;
        using var wire = await WireConnection.ConnectAsync(dataSocket, CancellationToken.None);
        await wire.WriteRequestHeaderAsync(DataWire.OpFileRead, [], 0, CancellationToken.None);
        wire.WriteUInt64(open.SessionId);
        wire.WriteUInt64(100);
        wire.WriteUInt64(2_000_000);
        await wire.FlushAsync(CancellationToken.None);
        Assert.Equal(DataWire.ResponseMagic, await wire.ReadUInt32Async(CancellationToken.None));
        Assert.Equal(0u, await wire.ReadUInt32Async(CancellationToken.None));
        Assert.Equal("", await wire.ReadStringAsync(CancellationToken.None));
        Assert.Equal("", await wire.ReadStringAsync(CancellationToken.None));
        var got = new List<byte>();
        for (uint n; (n = await wire.ReadUInt32Async(CancellationToken.None)) != DataWire.SegmentEnd;)
        {
            var part = new byte[n];
            await wire.ReadExactAsync(part, CancellationToken.None);
            got.AddRange(part);
        }
        Assert.Equal(content[100..2_000_100], got.ToArray());
        await _grpc.CloseAsync(open.SessionId, commit: false);
    }

    [Fact]
    public async Task AnUnreachableDataSocketLeavesFileWritesAndReadsToGrpcWithNothingLost()
    {
        using var kv = fixture.Node.Connect(options: new CacheClientOptions { DataSocketPath = "/tmp/no-such-data-socket-" + Guid.NewGuid().ToString("N")[..8] });
        var files = new FilesClient(kv);
        var path = NewPath("fallback.bin");
        var content = TestData.Value(6, 5_000_000);
        var open = await files.OpenAsync(path, OpenFlags.OpenRead | OpenFlags.OpenWrite | OpenFlags.OpenCreate);
        await using (var stream = files.OpenWriteStream(open.SessionId))
        {
            await stream.WriteAsync(0, content.AsMemory(0, 3_000_000));
            await stream.WriteAsync(3_000_000, content.AsMemory(3_000_000));
            Assert.Equal(content.Length, (await stream.CompleteAsync()).Size);
        }
        var back = new byte[content.Length];
        Assert.Equal(content.Length, await files.ReadAsync(open.SessionId, 0, back));
        Assert.Equal(content, back);
        await files.CloseAsync(open.SessionId, commit: true);
        Assert.Equal(content.Length, await _grpc.ReadPathAsync(path, 0, new byte[content.Length + 1]));
    }
}
