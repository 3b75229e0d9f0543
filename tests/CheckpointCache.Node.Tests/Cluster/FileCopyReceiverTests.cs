using System.IO.Hashing;
using CheckpointCache.Cluster.Replication;
using CheckpointCache.Engine;
using CheckpointCache.Engine.Files;
using CheckpointCache.Engine.Options;
using CheckpointCache.Node.Tests.Infrastructure;
using CheckpointCache.Rpc.Peer.V1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;

namespace CheckpointCache.Node.Tests.Cluster;

/// <summary>
/// Taking a file version from a stream of frames: installed only when whole and matching the sender's XXH64; a
/// mismatch, a cut stream or a short one is an error and leaves nothing behind (no file, no hidden temporary).
/// </summary>
public sealed class FileCopyReceiverTests : IAsyncLifetime
{
    private readonly TestDirectory _dir = new();
    private ICacheEngine _engine = null!;
    private FileTree _tree = null!;

    public async Task InitializeAsync()
    {
        _engine = await CacheEngine.OpenAsync(new EngineOptions
        {
            DataDirectory = _dir.Path,
            DirectIo = false,
            IoThreads = 2,
            MaxValueBytes = ByteSize.FromMiB(8),
            CheckpointInterval = TimeSpan.FromHours(1),
            Namespaces =
            {
                ["files"] = new NamespaceOptions
                {
                    Kind = NamespaceKind.Files, RamBytes = ByteSize.FromMiB(8), SsdBytes = ByteSize.FromMiB(64),
                    PageBytes = ByteSize.FromMiB(1), SegmentBytes = ByteSize.FromMiB(4), ChunkBytes = new ByteSize(256 * 1024 - 1024),
                },
            },
        });
        _tree = await FileTree.OpenAsync(_engine.GetNamespace("files"), new FilesOptions { BlockBytes = new ByteSize(64 * 1024) }, NullLogger.Instance);
    }

    public async Task DisposeAsync()
    {
        await _tree.DisposeAsync();
        await _engine.DisposeAsync();
        _dir.Dispose();
    }

    private sealed class Frames(IEnumerable<FileFrame> frames) : IAsyncStreamReader<FileFrame>
    {
        private readonly IEnumerator<FileFrame> _each = frames.GetEnumerator();
        public FileFrame Current => _each.Current;
        public Task<bool> MoveNext(CancellationToken cancellationToken) => Task.FromResult(_each.MoveNext());
    }

    private static FileFrame Header(string path, long size) => new()
    {
        Header = true, Store = "files", Path = path, Size = (ulong)size, Stamp = new VersionStamp { Clock = 10, Origin = "n2" },
    };

    private static IEnumerable<FileFrame> Data(byte[] content) => content.Chunk(100_000).Select(c => new FileFrame { Data = ByteString.CopyFrom(c) });

    private static FileFrame Last(ulong checksum) => new() { Last = true, Checksum = checksum };

    private async Task<IReadOnlyList<string>> NamesAsync(string directory)
    {
        try { return (await _tree.ListAsync(directory, null, 1000)).Entries.Select(e => e.Name).ToList(); }
        catch (FilesException e) when (e.Code == FilesErrorCode.NotFound) { return []; }
    }

    [Fact]
    public async Task A_whole_verified_copy_is_installed_with_its_stamp()
    {
        var content = TestData.Value(3, 350_000);
        var (stored, newerHeld) = await FileCopyReceiver.ReceiveAsync(_tree, Header("/c/ok.pt", content.Length),
            new Frames([.. Data(content), Last(XxHash64.HashToUInt64(content))]), CancellationToken.None);
        Assert.True(stored);
        Assert.False(newerHeld);
        await using var file = await _tree.OpenCommittedAsync("/c/ok.pt");
        Assert.Equal(new FileStamp(10, "n2"), file!.Stamp);
        var back = new byte[content.Length];
        Assert.Equal(content.Length, await file.Session.ReadAsync(0, back));
        Assert.Equal(content, back);
        Assert.Equal(["ok.pt"], await NamesAsync("/c"));

        // The same version again is not taken, and its frames are drained.
        (stored, newerHeld) = await FileCopyReceiver.ReceiveAsync(_tree, Header("/c/ok.pt", content.Length),
            new Frames([.. Data(content), Last(XxHash64.HashToUInt64(content))]), CancellationToken.None);
        Assert.False(stored);
        Assert.True(newerHeld);
    }

    [Fact]
    public async Task A_checksum_mismatch_a_cut_stream_or_a_short_one_leaves_nothing()
    {
        var content = TestData.Value(4, 250_000);
        var mismatch = await Assert.ThrowsAsync<RpcException>(() => FileCopyReceiver.ReceiveAsync(_tree, Header("/d/bad.pt", content.Length),
            new Frames([.. Data(content), Last(XxHash64.HashToUInt64(content) ^ 1)]), CancellationToken.None));
        Assert.Equal(StatusCode.DataLoss, mismatch.StatusCode);

        var cut = await Assert.ThrowsAsync<RpcException>(() => FileCopyReceiver.ReceiveAsync(_tree, Header("/d/cut.pt", content.Length),
            new Frames(Data(content).Take(1)), CancellationToken.None));
        Assert.Equal(StatusCode.Aborted, cut.StatusCode);

        var shortOne = await Assert.ThrowsAsync<RpcException>(() => FileCopyReceiver.ReceiveAsync(_tree, Header("/d/short.pt", content.Length + 1),
            new Frames([.. Data(content), Last(XxHash64.HashToUInt64(content))]), CancellationToken.None));
        Assert.Equal(StatusCode.InvalidArgument, shortOne.StatusCode);

        Assert.Empty(await NamesAsync("/d"));
    }
}
