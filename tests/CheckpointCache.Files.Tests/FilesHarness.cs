using CheckpointCache.Engine;
using CheckpointCache.Engine.Files;
using CheckpointCache.Engine.Options;
using Microsoft.Extensions.Logging.Abstractions;

namespace CheckpointCache.Files.Tests;

/// <summary>An engine with a small files namespace and the files layer over it, reopened on demand as after a restart.</summary>
public sealed class FilesHarness : IAsyncDisposable
{
    private readonly EngineOptions _engineOptions;
    private readonly FilesOptions _filesOptions;

    private FilesHarness(EngineOptions engineOptions, FilesOptions filesOptions, IColdTier? coldTier)
    {
        _engineOptions = engineOptions;
        _filesOptions = filesOptions;
        _coldTier = coldTier;
    }

    private readonly IColdTier? _coldTier;

    public ICacheEngine Engine { get; private set; } = null!;
    public FileTree Tree { get; private set; } = null!;
    public const int BlockBytes = 64 * 1024;

    public static async Task<FilesHarness> StartAsync(string folder, long ssdMiB = 96, int snapshotEvery = 10_000, long maxStagedBytes = 16 * 1024 * 1024, IColdTier? coldTier = null)
    {
        var engine = new EngineOptions
        {
            DataDirectory = folder,
            DirectIo = false,
            IoThreads = 4,
            MaxValueBytes = ByteSize.FromMiB(8),
            CheckpointInterval = TimeSpan.FromHours(1),
            Namespaces =
            {
                ["files"] = new NamespaceOptions
                {
                    Kind = NamespaceKind.Files,
                    RamBytes = ByteSize.FromMiB(8),
                    SsdBytes = ByteSize.FromMiB(ssdMiB),
                    PageBytes = ByteSize.FromMiB(1),
                    SegmentBytes = ByteSize.FromMiB(4),
                    ChunkBytes = new ByteSize(256 * 1024 - 1024),
                    ReadHintBytes = new ByteSize(68 * 1024),
                    IndexBuckets = 1 << 12,
                },
            },
        };
        var files = new FilesOptions
        {
            BlockBytes = new ByteSize(BlockBytes),
            SnapshotEveryRecords = snapshotEvery,
            MaxStagedBytesPerSession = new ByteSize(maxStagedBytes),
        };
        var harness = new FilesHarness(engine, files, coldTier);
        await harness.OpenAsync();
        return harness;
    }

    private async Task OpenAsync()
    {
        Engine = await CacheEngine.OpenAsync(_engineOptions);
        Tree = await FileTree.OpenAsync(Engine.GetNamespace("files"), _filesOptions, NullLogger.Instance, _coldTier);
    }

    /// <summary>A clean restart: the tree and the engine are closed and opened again on the same folder.</summary>
    public async Task RestartAsync()
    {
        await DisposeAsync();
        await OpenAsync();
    }

    public async Task WriteFileAsync(string path, byte[] content, bool commit = true)
    {
        var session = await Tree.OpenAsync(path, OpenMode.Write | OpenMode.Create | OpenMode.Truncate);
        await session.WriteAsync(0, content);
        await session.CloseAsync(commit);
    }

    public async Task<byte[]> ReadFileAsync(string path)
    {
        var session = await Tree.OpenAsync(path, OpenMode.Read);
        try
        {
            var buffer = new byte[session.Size];
            int n = await session.ReadAsync(0, buffer);
            Assert.Equal(buffer.Length, n);
            return buffer;
        }
        finally
        {
            await session.CloseAsync(commit: false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Tree is not null) await Tree.DisposeAsync();
        if (Engine is not null) await Engine.DisposeAsync();
    }
}
