using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace CheckpointCache.Perf.Scenarios.Scale;

/// <summary>
/// The etcd the scale study runs against: Debian's etcd-server started on free loopback ports with its data in
/// the scenario's folder (or an existing one given by URL). Its /metrics count every gRPC message it received,
/// an independent check on the nodes' own counters.
/// </summary>
internal sealed class ScaleEtcd : IDisposable
{
    private readonly Process? _process;
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private readonly string? _dataDirectory;

    private ScaleEtcd(string url, Process? process, string? dataDirectory = null)
    {
        ClientUrl = url;
        _process = process;
        _dataDirectory = dataDirectory;
    }

    public string ClientUrl { get; }

    public static ScaleEtcd Existing(string url) => new(url, null);

    /// <param name="dataDirectory">Where etcd keeps its data; on a shared disk its fsyncs can stall past a lease TTL.</param>
    public static async Task<ScaleEtcd> StartAsync(string dataDirectory)
    {
        if (!File.Exists("/usr/bin/etcd")) throw new ArgumentException("etcd is not installed (apt-get install etcd-server), or pass --etcd URL");
        int client = FreePort(), peer = FreePort();
        var url = $"http://127.0.0.1:{client}";
        var info = new ProcessStartInfo("/usr/bin/etcd") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[]
        {
            "--name", "scale", "--data-dir", dataDirectory,
            "--listen-client-urls", url, "--advertise-client-urls", url,
            "--listen-peer-urls", $"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{peer}",
            "--initial-cluster", $"scale=http://127.0.0.1:{peer}",
        }) info.ArgumentList.Add(a);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.ErrorDataReceived += (_, e) => { if (e.Data?.Contains("ready to serve client requests", StringComparison.Ordinal) == true) ready.TrySetResult(); };
        process.OutputDataReceived += (_, _) => { };
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException("etcd exited before serving"));
        process.Start();
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        await ready.Task.WaitAsync(TimeSpan.FromMinutes(1));
        return new ScaleEtcd(url, process, dataDirectory);
    }

    /// <summary>gRPC messages etcd received, summed over every method (grpc_server_msg_received_total).</summary>
    public async Task<double> MessagesReceivedAsync()
    {
        var text = await Http.GetStringAsync(ClientUrl + "/metrics");
        double total = 0;
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith("grpc_server_msg_received_total{", StringComparison.Ordinal)) continue;
            total += double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
        }
        return total;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        if (_process is null) return;
        try { if (!_process.HasExited) _process.Kill(); _process.WaitForExit(10_000); } catch (InvalidOperationException) { }
        _process.Dispose();
        try { if (_dataDirectory is not null) Directory.Delete(_dataDirectory, recursive: true); } catch (IOException) { }
    }
}
