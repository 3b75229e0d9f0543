// Writes values of mixed sizes to a namespace and commits every few writes, printing
// "committed <n>" after each commit returns: everything below n must survive kill -9.
using CheckpointCache.Engine;
using CheckpointCache.Engine.Options;

// Mode "rotate" writes checkpoints of CrashData.Parts values into a small pinned namespace, commits each one,
// then deletes the one two back, printing "kept <c>": checkpoints c-1 and c must survive kill -9. The namespace
// fills up many times over, so the process is killed while compactions come and go.
var dir = args[0];
var mode = args.Length > 1 ? args[1] : "kv";
var ns = mode == "rotate" ? "files" : mode;
var directIo = args.Length > 2 && args[2] == "direct";
var options = CrashData.Options(dir, ns, directIo);
if (mode == "rotate") options.Namespaces[ns].SsdBytes = ByteSize.FromMiB(32);
await using var engine = await CacheEngine.OpenAsync(options);
var store = engine.GetNamespace(ns);
Console.WriteLine("ready");
if (mode == "rotate")
{
    for (int c = 0; ; c++)
    {
        for (int p = 0; p < CrashData.Parts; p++) await store.PutAsync(CrashData.PartKey(c, p), CrashData.Value(c * CrashData.Parts + p));
        await store.CommitAsync();
        for (int p = 0; p < CrashData.Parts && c >= 2; p++) await store.DeleteAsync(CrashData.PartKey(c - 2, p));
        Console.WriteLine($"kept {c}");
    }
}
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

    public const int Parts = 6;

    public static byte[] PartKey(int checkpoint, int part) => System.Text.Encoding.UTF8.GetBytes($"ckpt-{checkpoint:D5}/{part}");

    public static byte[] Key(int i) => System.Text.Encoding.UTF8.GetBytes($"crash-{i:D7}");

    public static int Length(int i) => (i % 4) switch { 0 => 3000, 1 => 100_000, 2 => 400_000, _ => 1_100_000 };

    public static byte[] Value(int i)
    {
        var value = new byte[Length(i)];
        new Random(i).NextBytes(value);
        return value;
    }
}
