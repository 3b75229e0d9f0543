using System.Diagnostics;
using Azure.Storage.Blobs;

namespace CheckpointCache.CloudTier.Tests.Infrastructure;

/// <summary>
/// Azurite's blob service (npm package azurite, installed by scripts/test.sh into .tools/azurite; AZURITE_BLOB
/// overrides the path) on 127.0.0.1, a port and a data folder of its own; ended by its process id. It can be killed
/// and started again on the same port and data, which is how tests make Blob go away and come back.
/// </summary>
public sealed class AzuriteProcess : IDisposable
{
    // Azurite's well-known development account (public, documented; not a secret).
    private const string Account = "devstoreaccount1";
    private const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private readonly TestDirectory _dir = new();
    private readonly List<string> _output = [];
    private ServiceProcess? _process;

    private readonly bool _debugLog;

    private AzuriteProcess(int port, bool debugLog)
    {
        Port = port;
        _debugLog = debugLog;
    }

    public int Port { get; }
    public string ConnectionString => $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={Key};BlobEndpoint=http://127.0.0.1:{Port}/{Account};";
    public string Output { get { lock (_output) return string.Join('\n', _output); } }
    public bool Running => _process is { Running: true };
    /// <summary>Azurite's debug log (every request it served), for counting requests independently of the node.</summary>
    public string DebugLogPath => _dir.Of("debug.log");

    public static string ExecutablePath =>
        Environment.GetEnvironmentVariable("AZURITE_BLOB") is { Length: > 0 } path ? path : RepoPaths.Of(".tools", "azurite", "node_modules", ".bin", "azurite-blob");

    /// <summary>An Azurite not started yet, with its port chosen: a node can be pointed at it while Blob is "down".</summary>
    public static AzuriteProcess Reserve(bool debugLog = false) => new(FreePort.Next(), debugLog);

    public static async Task<AzuriteProcess> StartAsync(bool debugLog = false)
    {
        var azurite = Reserve(debugLog);
        try
        {
            await azurite.StartAgainAsync();
            return azurite;
        }
        catch
        {
            azurite.Dispose();
            throw;
        }
    }

    public BlobContainerClient Container(string name) => new BlobServiceClient(ConnectionString).GetBlobContainerClient(name);

    /// <summary>Starts (again) on the same port and data folder and waits until it listens.</summary>
    public async Task StartAgainAsync()
    {
        if (!File.Exists(ExecutablePath))
            throw new InvalidOperationException($"azurite-blob not found at {ExecutablePath}: run scripts/test.sh (it installs it) or set AZURITE_BLOB");
        var info = new ProcessStartInfo(ExecutablePath);
        foreach (var a in new[]
        {
            "--blobHost", "127.0.0.1", "--blobPort", Port.ToString(), "--location", _dir.Of("data"),
            "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent",
        }) info.ArgumentList.Add(a);
        if (_debugLog)
        {
            info.ArgumentList.Add("--debug");
            info.ArgumentList.Add(DebugLogPath);
        }
        _process = await ServiceProcess.StartAsync(info, "successfully listens", "azurite", _output);
    }

    /// <summary>
    /// Stops Azurite by its pid with SIGTERM, so it saves its metadata (a SIGKILLed Azurite forgets its last seconds,
    /// which real Blob never does): Blob "goes away" for the node all the same.
    /// </summary>
    public async Task StopAsync()
    {
        if (_process is null) return;
        await _process.TerminateAsync();
        _process.Dispose();
        _process = null;
    }

    /// <summary>Ends Azurite at once (SIGKILL by pid).</summary>
    public async Task KillAsync()
    {
        if (_process is null) return;
        await _process.KillAsync();
        _process.Dispose();
        _process = null;
    }

    public void Dispose()
    {
        _process?.Dispose();
        _dir.Dispose();
    }
}
