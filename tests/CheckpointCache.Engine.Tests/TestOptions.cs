using CheckpointCache.Engine.Options;

namespace CheckpointCache.Engine.Tests;

/// <summary>Small budgets so tests exercise the SSD tier and eviction in seconds.</summary>
public static class TestOptions
{
    public static NamespaceOptions Kv(long ramMiB = 8, long ssdMiB = 64) => new()
    {
        Kind = NamespaceKind.Kv,
        RamBytes = ByteSize.FromMiB(ramMiB),
        SsdBytes = ByteSize.FromMiB(ssdMiB),
        PageBytes = ByteSize.FromMiB(1),
        SegmentBytes = ByteSize.FromMiB(4),
        ChunkBytes = new ByteSize(256 * 1024 - 1024),
        ReadHintBytes = new ByteSize(64 * 1024),
        IndexBuckets = 1 << 12,
    };

    public static NamespaceOptions Files(long ramMiB = 8, long ssdMiB = 64)
    {
        var o = Kv(ramMiB, ssdMiB);
        o.Kind = NamespaceKind.Files;
        return o;
    }

    public static EngineOptions Engine(string dir, bool directIo = false) => new()
    {
        DataDirectory = dir,
        DirectIo = directIo,
        IoThreads = 4,
        MaxValueBytes = ByteSize.FromMiB(8),
        CheckpointInterval = TimeSpan.FromHours(1),
        EvictionInterval = TimeSpan.FromMilliseconds(200),
        Namespaces =
        {
            ["kv"] = Kv(),
            ["files"] = Files(),
        },
    };

    public static byte[] Value(int seed, int length)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static byte[] Key(int i) => System.Text.Encoding.UTF8.GetBytes($"key-{i:D6}");
}
