namespace CheckpointCache.Node.Tests.Infrastructure;

/// <summary>
/// Small budgets so a test node starts in a moment on two cores, and values above 64 MiB of RAM spill
/// to the SSD tier. Passed as --Section:Key=value arguments, the way an operator would.
/// </summary>
public static class TestSettings
{
    public static Dictionary<string, string> For(string dataDirectory) => new()
    {
        ["Engine:DataDirectory"] = dataDirectory,
        ["Engine:DirectIo"] = "false",
        ["Engine:IoThreads"] = "2",
        ["Engine:MaxValueBytes"] = "64MiB",
        ["Engine:CheckpointInterval"] = "01:00:00",
        ["Engine:EvictionInterval"] = "00:00:00.200",
        ["Engine:Namespaces:kv:Kind"] = "Kv",
        ["Engine:Namespaces:kv:RamBytes"] = "64MiB",
        ["Engine:Namespaces:kv:SsdBytes"] = "1GiB",
        ["Engine:Namespaces:kv:PageBytes"] = "4MiB",
        ["Engine:Namespaces:kv:ChunkBytes"] = (1024 * 1024 - 1024).ToString(),
        ["Engine:Namespaces:kv:SegmentBytes"] = "16MiB",
        ["Engine:Namespaces:files:Kind"] = "Files",
        ["Engine:Namespaces:files:RamBytes"] = "16MiB",
        ["Engine:Namespaces:files:SsdBytes"] = "128MiB",
        ["Engine:Namespaces:files:PageBytes"] = "4MiB",
        ["Engine:Namespaces:files:ChunkBytes"] = (1024 * 1024 - 1024).ToString(),
        ["Engine:Namespaces:files:SegmentBytes"] = "16MiB",
        ["Node:UnixSocketPath"] = Path.Combine(dataDirectory, "n.sock"),
        ["Node:TcpPort"] = "0",
        ["Node:MetricsPort"] = "0",
        ["Limits:MaxValueBytes"] = "64MiB",
        ["Logging:LogLevel:Default"] = "Warning",
    };

    public static string[] Args(IReadOnlyDictionary<string, string> settings) => settings.Select(kv => $"--{kv.Key}={kv.Value}").ToArray();
}
