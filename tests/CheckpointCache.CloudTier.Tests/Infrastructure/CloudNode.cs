using System.Globalization;
using System.Text.RegularExpressions;
using CheckpointCache.Client;
using CheckpointCache.Client.Files;

namespace CheckpointCache.CloudTier.Tests.Infrastructure;

/// <summary>
/// A node process with small budgets and (optionally) the cloud tier pointed at an Azurite, with fast retries so an
/// outage in a test is retried often; its data folder outlives restarts until the test disposes it.
/// </summary>
public sealed partial class CloudNode : IAsyncDisposable
{
    private readonly Dictionary<string, string> _settings;
    private CacheClient? _client;

    private CloudNode(string dataDirectory, Dictionary<string, string> settings)
    {
        DataDirectory = dataDirectory;
        _settings = settings;
    }

    public string DataDirectory { get; }
    public NodeProcess Process { get; private set; } = null!;
    public FilesClient Files { get; private set; } = null!;
    public CacheClient Client => _client!;
    public string Container => _settings.GetValueOrDefault("Cloud:Container", "");

    public static Dictionary<string, string> BaseSettings(string dataDirectory) => new()
    {
        ["Engine:DataDirectory"] = dataDirectory,
        ["Engine:DirectIo"] = "false",
        ["Engine:IoThreads"] = "2",
        ["Engine:CheckpointInterval"] = "01:00:00",
        ["Engine:Namespaces:kv:Kind"] = "Kv",
        ["Engine:Namespaces:kv:RamBytes"] = "16MiB",
        ["Engine:Namespaces:kv:SsdBytes"] = "128MiB",
        ["Engine:Namespaces:kv:PageBytes"] = "4MiB",
        ["Engine:Namespaces:kv:ChunkBytes"] = (1024 * 1024 - 1024).ToString(CultureInfo.InvariantCulture),
        ["Engine:Namespaces:kv:SegmentBytes"] = "16MiB",
        ["Engine:Namespaces:files:Kind"] = "Files",
        ["Engine:Namespaces:files:RamBytes"] = "32MiB",
        ["Engine:Namespaces:files:SsdBytes"] = "512MiB",
        ["Engine:Namespaces:files:PageBytes"] = "4MiB",
        ["Engine:Namespaces:files:ChunkBytes"] = (1024 * 1024 - 1024).ToString(CultureInfo.InvariantCulture),
        ["Engine:Namespaces:files:SegmentBytes"] = "32MiB",
        ["Node:UnixSocketPath"] = Path.Combine(dataDirectory, "n.sock"),
        ["Node:TcpPort"] = "0",
        ["Node:MetricsPort"] = "0",
        ["Logging:LogLevel:Default"] = "Warning",
        ["Logging:LogLevel:CheckpointCache.Node"] = "Information",
        ["Logging:LogLevel:CheckpointCache.Files"] = "Information",
    };

    public static Dictionary<string, string> CloudSettings(string dataDirectory, AzuriteProcess azurite, string container) => new(BaseSettings(dataDirectory))
    {
        ["Cloud:Enabled"] = "true",
        ["Cloud:ConnectionString"] = azurite.ConnectionString,
        ["Cloud:Container"] = container,
        ["Cloud:BlockBytes"] = (1024 * 1024).ToString(CultureInfo.InvariantCulture),
        ["Cloud:UploadParallelism"] = "3",
        ["Cloud:MaxAttempts"] = "2",
        ["Cloud:MinBackoff"] = "00:00:00.050",
        ["Cloud:MaxBackoff"] = "00:00:00.500",
        ["Cloud:MaxRetryDelay"] = "00:00:01",
        ["Cloud:RequestTimeout"] = "00:00:30",
        ["Cloud:NegativeCacheTime"] = "00:00:00",
    };

    public static async Task<CloudNode> StartAsync(string dataDirectory, Dictionary<string, string> settings)
    {
        var node = new CloudNode(dataDirectory, settings);
        await node.StartAgainAsync();
        return node;
    }

    /// <summary>Starts the node (again) on the same data folder and settings.</summary>
    public async Task StartAgainAsync()
    {
        Files?.Dispose();
        _client?.Dispose();
        Process = await NodeProcess.StartAsync(_settings.Select(kv => $"--{kv.Key}={kv.Value}"));
        _client = CacheClient.Connect(Process.UnixEndpoint);
        Files = new FilesClient(_client, new FilesClientOptions { StreamTimeout = TimeSpan.FromMinutes(3) });
    }

    public async Task KillAsync() => await Process.KillAsync();

    /// <summary><see cref="Eventually.UntilAsync"/>, with the node's log in the error when it gives up.</summary>
    public async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        try
        {
            await Eventually.UntilAsync(condition, what);
        }
        catch (TimeoutException e)
        {
            var log = Process.Output;
            throw new TimeoutException(e.Message + "\nnode log (tail):\n" + log[Math.Max(0, log.Length - 6000)..], e);
        }
    }

    public async Task StopAsync() => await Process.StopAsync();

    /// <summary>Writes a whole file (create or replace) and commits it, without waiting for the cloud.</summary>
    public async Task<CheckpointCache.Rpc.Files.V1.CloseResponse> WriteAsync(string path, byte[] content, bool waitPersisted = false)
    {
        int slash = path.LastIndexOf('/');
        if (slash > 0) await Files.MkdirAsync(path[..slash], parents: true);
        var open = await Files.OpenAsync(path, CheckpointCache.Rpc.Files.V1.OpenFlags.OpenWrite | CheckpointCache.Rpc.Files.V1.OpenFlags.OpenCreate | CheckpointCache.Rpc.Files.V1.OpenFlags.OpenTruncate);
        if (content.Length > 0) await Files.WriteAsync(open.SessionId, 0, content);
        return waitPersisted ? await Files.ClosePersistedAsync(open.SessionId, TimeSpan.FromMinutes(2)) : await Files.CloseAsync(open.SessionId, commit: true);
    }

    public async Task<byte[]> ReadAsync(string path)
    {
        using var buffer = new MemoryStream();
        await Files.DownloadAsync(path, buffer);
        return buffer.ToArray();
    }

    /// <summary>A counter or gauge from the node's Prometheus endpoint (summed over series whose labels contain <paramref name="labels"/>).</summary>
    public async Task<double> MetricAsync(string name, string labels = "")
    {
        var info = await Client.GetInfoAsync();
        using var http = new HttpClient();
        var text = await http.GetStringAsync(info.MetricsUrl);
        double sum = 0;
        foreach (Match m in MetricLine().Matches(text))
            if (m.Groups["name"].Value == name && m.Groups["labels"].Value.Contains(labels, StringComparison.Ordinal))
                sum += double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture);
        return sum;
    }

    public async ValueTask DisposeAsync()
    {
        Files?.Dispose();
        _client?.Dispose();
        Process?.Dispose();
        await Task.CompletedTask;
    }

    [GeneratedRegex(@"^(?<name>[a-z_]+)(?:\{(?<labels>[^}]*)\})? (?<value>[-+0-9.eE]+|NaN)$", RegexOptions.Multiline)]
    private static partial Regex MetricLine();
}
