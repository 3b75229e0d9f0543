using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using CheckpointCache.Node.Tests.Infrastructure;

namespace CheckpointCache.Node.Tests.Cluster;

/// <summary>
/// A real single-member etcd (Debian's etcd-server) on loopback ports of its own, with its data in a test
/// folder; killed by its pid. It can be killed and started again on the same data and ports.
/// </summary>
public sealed class EtcdProcess : IDisposable
{
    private readonly TestDirectory _dir = new();
    private readonly int _clientPort = FreePort();
    private readonly int _peerPort = FreePort();
    private Process? _process;
    private readonly List<string> _output = [];

    public string ClientUrl => $"http://127.0.0.1:{_clientPort}";
    public string Output { get { lock (_output) return string.Join('\n', _output); } }

    public static bool Installed => File.Exists("/usr/bin/etcd");

    public static async Task<EtcdProcess> StartAsync()
    {
        var etcd = new EtcdProcess();
        try
        {
            await etcd.StartAgainAsync();
            return etcd;
        }
        catch
        {
            etcd.Dispose();
            throw;
        }
    }

    /// <summary>Starts etcd (again) on the same data directory and ports, and waits until it serves clients.</summary>
    public async Task StartAgainAsync()
    {
        var info = new ProcessStartInfo("/usr/bin/etcd")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
        {
            "--name", "test", "--data-dir", _dir.Of("etcd"),
            "--listen-client-urls", ClientUrl, "--advertise-client-urls", ClientUrl,
            "--listen-peer-urls", $"http://127.0.0.1:{_peerPort}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{_peerPort}",
            "--initial-cluster", $"test=http://127.0.0.1:{_peerPort}",
        }) info.ArgumentList.Add(a);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        void OnLine(string? line)
        {
            if (line is null) return;
            lock (_output) _output.Add(line);
            if (line.Contains("ready to serve client requests", StringComparison.Ordinal)) ready.TrySetResult();
        }
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException("etcd exited before serving:\n" + Output));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        // A safety net against a hung start, not a performance expectation.
        await ready.Task.WaitAsync(TimeSpan.FromMinutes(1));
    }

    /// <summary>Ends etcd at once (SIGKILL), as a crash would.</summary>
    public async Task KillAsync()
    {
        if (_process is null) return;
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = null;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        try
        {
            if (_process is { HasExited: false }) _process.Kill();
            _process?.WaitForExit(10_000);
        }
        catch (InvalidOperationException) { }
        _process?.Dispose();
        _dir.Dispose();
    }
}
