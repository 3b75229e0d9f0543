// Writes values of mixed sizes to a namespace and commits every few writes, printing
// "committed <n>" after each commit returns: everything below n must survive kill -9.
using CheckpointCache.Engine;
using CheckpointCache.Engine.Options;

var dir = args[0];
var ns = args.Length > 1 ? args[1] : "kv";
var directIo = args.Length > 2 && args[2] == "direct";
var options = CrashData.Options(dir, ns, directIo);
await using var engine = await CacheEngine.OpenAsync(options);
var store = engine.GetNamespace(ns);
Console.WriteLine("ready");
for (int i = 0; ; i++)
{
    await store.PutAsync(CrashData.Key(i), CrashData.Value(i));
    if (i % 5 == 4)
    {
        await store.CommitAsync();
        Console.WriteLine($"committed {i + 1}");
    }
}

/// <summary>The values both sides of the crash test agree on.</summary>
public static class CrashData
{
    public static EngineOptions Options(string dir, string ns, bool directIo) => new()
    {
        DataDirectory = dir,
        DirectIo = directIo,
        IoThreads = 4,
        MaxValueBytes = ByteSize.FromMiB(8),
        CheckpointInterval = TimeSpan.FromMilliseconds(300),
        Namespaces =
        {
            [ns] = new NamespaceOptions
            {
                Kind = ns == "files" ? NamespaceKind.Files : NamespaceKind.Kv,
                RamBytes = ByteSize.FromMiB(8),
                SsdBytes = ByteSize.FromMiB(512),
                PageBytes = ByteSize.FromMiB(1),
                SegmentBytes = ByteSize.FromMiB(4),
                ChunkBytes = new ByteSize(256 * 1024 - 1024),
                ReadHintBytes = new ByteSize(64 * 1024),
                IndexBuckets = 1 << 12,
            },
        },
    };

    public static byte[] Key(int i) => System.Text.Encoding.UTF8.GetBytes($"crash-{i:D7}");

    public static int Length(int i) => (i % 4) switch { 0 => 3000, 1 => 100_000, 2 => 400_000, _ => 1_100_000 };

    public static byte[] Value(int i)
    {
        var value = new byte[Length(i)];
        new Random(i).NextBytes(value);
        return value;
    }
}
