using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using CheckpointCache.Perf.Framework;

namespace CheckpointCache.Perf.Scenarios.Writeback;

/// <summary>Azurite's blob service (installed by scripts/test.sh into .tools/azurite; AZURITE_BLOB overrides) on a free loopback port; stopped by pid.</summary>
public sealed class Azurite : IAsyncDisposable
{
    public const string Account = "devstoreaccount1";
    // Azurite's well-known development key (public, documented; not a secret).
    public const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private readonly Process _process;

    private Azurite(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public static string ConnectionString(int port) => $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={Key};BlobEndpoint=http://127.0.0.1:{port}/{Account};";

    public static async Task<Azurite> StartAsync(string folder)
    {
        var exe = Environment.GetEnvironmentVariable("AZURITE_BLOB") is { Length: > 0 } e ? e : Path.Combine(RepoPaths.Root, ".tools", "azurite", "node_modules", ".bin", "azurite-blob");
        if (!File.Exists(exe)) throw new InvalidOperationException($"azurite-blob not found at {exe}: run scripts/test.sh (it installs it) or set AZURITE_BLOB");
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0)) { probe.Start(); port = ((IPEndPoint)probe.LocalEndpoint).Port; }
        var info = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--blobHost", "127.0.0.1", "--blobPort", port.ToString(), "--location", folder, "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry" })
            info.ArgumentList.Add(a);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, l) => { if (l.Data?.Contains("successfully listens", StringComparison.Ordinal) == true) ready.TrySetResult(); };
        process.ErrorDataReceived += (_, _) => { };
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException("azurite exited before listening"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await ready.Task.WaitAsync(TimeSpan.FromMinutes(2));
        return new Azurite(process, port);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
