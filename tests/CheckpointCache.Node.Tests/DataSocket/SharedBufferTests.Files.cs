using CheckpointCache.Client.DataSocket;
using CheckpointCache.Client.Files;
using CheckpointCache.Client.SharedMemory;
using CheckpointCache.Node.Tests.Infrastructure;
using CheckpointCache.Rpc.Files.V1;
using Grpc.Core;

namespace CheckpointCache.Node.Tests.DataSocket;

/// <summary>
/// Files Write from and Read into shared buffers (ops 8 and 9): the node moves file bytes between a session and the
/// client's memory, byte-exact at any offset and length; places outside a buffer are refused with the bounds named.
/// </summary>
public sealed partial class SharedBufferTests
{
    private static string NewFilePath(string name) => $"/shared-{Guid.NewGuid():N}-{name}";

    [Fact]
    public async Task FilesWrittenFromAndReadIntoSharedBuffersMatchGrpcByteForByteAtUnalignedPlaces()
    {
        // Larger than either buffer, and no size or offset a multiple of anything.
        var content = TestData.Value(21, 5_000_017);
        using var files = new FilesClient(_client);
        using var grpcFiles = new FilesClient(_grpc);
        using var first = SharedBuffer.Allocate(1_048_573, _name);
        using var second = SharedBuffer.Allocate(333_331, _name);
        var path = NewFilePath("model.bin");
        var open = await files.OpenAsync(path, OpenFlags.OpenWrite | OpenFlags.OpenCreate);
        long at = 0;
        for (int piece = 0; at < content.Length; piece++)
        {
            // One stream each time the buffers are full: the node reads them until the stream completes.
            await using var stream = files.OpenWriteStream(open.SessionId);
            int place = 7 + piece % 13;
            int n = (int)Math.Min(first.Length - place, content.Length - at);
            content.AsMemory((int)at, n).CopyTo(first.Memory[place..]);
            await stream.WriteAsync(at, first.Memory.Slice(place, n));
            at += n;
            // Switching to ordinary memory and to a buffer not registered yet, within the same stream.
            int m = (int)Math.Min(100_003, content.Length - at);
            await stream.WriteAsync(at, content.AsMemory((int)at, m));
            at += m;
            int k = (int)Math.Min(second.Length - 5, content.Length - at);
            content.AsMemory((int)at, k).CopyTo(second.Memory[5..]);
            await stream.WriteAsync(at, second.Memory.Slice(5, k));
            at += k;
            var done = await stream.CompleteAsync();
            Assert.Equal(n + m + k, done.BytesWritten);
            Assert.Equal(at, done.Size);
        }
        // The node mapped both buffers: the bytes came out of them, not through the socket.
        Assert.Equal(4, Mappings());
        await files.CloseAsync(open.SessionId, commit: true);

        var back = new byte[content.Length];
        var read = await grpcFiles.OpenAsync(path, OpenFlags.OpenRead);
        Assert.Equal(content.Length, await grpcFiles.ReadAsync(read.SessionId, 0, back));
        Assert.Equal(content, back);

        Array.Clear(back);
        for (int offset = 0, piece = 0; offset < content.Length; piece++)
        {
            first.Memory.Span.Fill(0xEE);
            int place = 3 + piece % 11;
            var destination = first.Memory.Slice(place, first.Length - place - 17);
            int n = await files.ReadAsync(read.SessionId, offset, destination);
            Assert.Equal(Math.Min(destination.Length, content.Length - offset), n);
            // Nothing written outside what was read.
            Assert.Equal(0xEE, first.Memory.Span[place - 1]);
            Assert.Equal(0xEE, first.Memory.Span[place + n]);
            destination[..n].CopyTo(back.AsMemory(offset));
            offset += n;
        }
        Assert.Equal(content, back);
        // Past the end: only what is there.
        Assert.Equal(437, await files.ReadAsync(read.SessionId, content.Length - 437, second.Memory[1..]));
        Assert.Equal(content[^437..], second.Memory.Slice(1, 437).ToArray());
        Assert.Equal(0, await files.ReadAsync(read.SessionId, content.Length + 10, second.Memory[1..]));
        await files.CloseAsync(read.SessionId, commit: false);
    }

    [Fact]
    public async Task FileRecordsAndReadsOutsideASharedBufferAreRefusedNamingItsBounds()
    {
        using var files = new FilesClient(_grpc);
        using var buffer = SharedBuffer.Allocate(65_536, _name);
        var content = TestData.Value(22, 10_000);
        var open = await files.OpenAsync(NewFilePath("bounds.bin"), OpenFlags.OpenRead | OpenFlags.OpenWrite | OpenFlags.OpenCreate);
        await files.WriteAsync(open.SessionId, 0, content);

        using (var wire = await WireConnection.ConnectAsync(_path, CancellationToken.None))
        {
            uint id = await RegisterAsync(wire, buffer.Length, buffer);
            await wire.WriteRequestHeaderAsync(DataWire.OpFileWriteShared, [], 0, CancellationToken.None);
            wire.WriteUInt64(open.SessionId);
            FileRecord(wire, 20_000, 1000, id, 0);
            FileRecord(wire, 30_000, 1000, id, 65_000);
            wire.WriteUInt64(0);
            wire.WriteUInt32(DataWire.RecordEnd);
            await wire.FlushAsync(CancellationToken.None);
            await ExpectFilesRefusalAsync(wire, "write record 1: bytes 65000..66000 are outside shared buffer 0 (65536 bytes)");
            Assert.False(await wire.WaitForFrameAsync(CancellationToken.None));
        }
        // The record before the refused one was applied, as a refused socket stream keeps what it took; none after.
        Assert.Equal(21_000, await files.ReadAsync(open.SessionId, 0, new byte[40_000]));

        foreach (var (region, offset, length, naming) in new (uint, ulong, ulong, string)[]
        {
            (0, 60_000, 5537, "the read's destination: bytes 60000..65537 are outside shared buffer 0 (65536 bytes)"),
            (0, 65_537, 0, "the read's destination: bytes 65537..65537 are outside shared buffer 0 (65536 bytes)"),
            (1, 0, 10, "the read's destination: shared buffer 1 was not registered on this connection (1 are)"),
        })
        {
            using var wire = await WireConnection.ConnectAsync(_path, CancellationToken.None);
            await RegisterAsync(wire, buffer.Length, buffer);
            await wire.WriteRequestHeaderAsync(DataWire.OpFileReadShared, [], 0, CancellationToken.None);
            wire.WriteUInt64(open.SessionId);
            wire.WriteUInt64(0);
            wire.WriteUInt64(length);
            wire.WriteUInt32(region);
            wire.WriteUInt64(offset);
            await wire.FlushAsync(CancellationToken.None);
            await ExpectFilesRefusalAsync(wire, naming);
        }

        // In bounds, on the same kind of connection: the bytes land where asked.
        using (var wire = await WireConnection.ConnectAsync(_path, CancellationToken.None))
        {
            uint id = await RegisterAsync(wire, buffer.Length, buffer);
            await wire.WriteRequestHeaderAsync(DataWire.OpFileReadShared, [], 0, CancellationToken.None);
            wire.WriteUInt64(open.SessionId);
            wire.WriteUInt64(3);
            wire.WriteUInt64(9_000);
            wire.WriteUInt32(id);
            wire.WriteUInt64(56_536);
            await wire.FlushAsync(CancellationToken.None);
            await ExpectStatusAsync(wire, StatusCode.OK);
            Assert.Equal("", await wire.ReadStringAsync(CancellationToken.None));
            Assert.Equal(9_000ul, await wire.ReadUInt64Async(CancellationToken.None));
            Assert.Equal(content[3..9_003], buffer.Memory.Slice(56_536, 9_000).ToArray());
        }
        await files.CloseAsync(open.SessionId, commit: false);
    }

    private static void FileRecord(WireConnection wire, ulong offset, uint length, uint region, ulong regionOffset)
    {
        wire.WriteUInt64(offset);
        wire.WriteUInt32(length);
        wire.WriteUInt32(region);
        wire.WriteUInt64(regionOffset);
    }

    private static async Task ExpectFilesRefusalAsync(WireConnection wire, string naming)
    {
        await ExpectStatusAsync(wire, StatusCode.InvalidArgument, naming);
        Assert.Contains("INVALID_ARGUMENT", await wire.ReadStringAsync(CancellationToken.None));
    }
}
