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
    private ServiceProcess? _process;
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
        var info = new ProcessStartInfo("/usr/bin/etcd");
        foreach (var a in new[]
        {
            "--name", "test", "--data-dir", _dir.Of("etcd"),
            "--listen-client-urls", ClientUrl, "--advertise-client-urls", ClientUrl,
            "--listen-peer-urls", $"http://127.0.0.1:{_peerPort}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{_peerPort}",
            "--initial-cluster", $"test=http://127.0.0.1:{_peerPort}",
        }) info.ArgumentList.Add(a);
        _process = await ServiceProcess.StartAsync(info, "ready to serve client requests", "etcd", _output);
    }

    /// <summary>Ends etcd at once (SIGKILL), as a crash would.</summary>
    public async Task KillAsync()
    {
        if (_process is null) return;
        await _process.KillAsync();
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
        _process?.Dispose();
        _dir.Dispose();
    }
}
