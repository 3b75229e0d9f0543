using System.Diagnostics;
using System.Text.RegularExpressions;

namespace CheckpointCache.CloudTier.Tests.Infrastructure;

/// <summary>
/// The node executable ("checkpointcache serve") as a child process, as an operator runs it. Killed by its pid on
/// Dispose, so a failed test never leaves a node behind; <see cref="KillAsync"/> is the kill -9 of a crash.
/// </summary>
public sealed partial class NodeProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _output = [];
    private readonly TaskCompletionSource<string> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private NodeProcess(Process process)
    {
        _process = process;
    }

    public int Pid => _process.Id;
    public IReadOnlyList<string> Endpoints { get; private set; } = [];
    public string UnixEndpoint => Endpoints.Single(e => e.StartsWith("unix:", StringComparison.Ordinal));
    public string Output { get { lock (_output) return string.Join('\n', _output); } }

    public static string ExecutablePath => Path.Combine(AppContext.BaseDirectory, "checkpointcache.dll");

    public static async Task<NodeProcess> StartAsync(IEnumerable<string> args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(ExecutablePath);
        info.ArgumentList.Add("serve");
        foreach (var a in args) info.ArgumentList.Add(a);

        var node = new NodeProcess(new Process { StartInfo = info, EnableRaisingEvents = true });
        node._process.OutputDataReceived += (_, e) => node.OnLine(e.Data);
        node._process.ErrorDataReceived += (_, e) => node.OnLine(e.Data);
        node._process.Exited += (_, _) => node._listening.TrySetException(new InvalidOperationException("the node exited before listening:\n" + node.Output));
        node._process.Start();
        node._process.BeginOutputReadLine();
        node._process.BeginErrorReadLine();
        try
        {
            // A safety net against a hung start, not a performance expectation.
            var line = await node._listening.Task.WaitAsync(TimeSpan.FromMinutes(2));
            node.Endpoints = ListeningLine().Match(line).Groups[1].Value.Split(" and ");
            return node;
        }
        catch
        {
            node.Dispose();
            throw;
        }
    }

    private void OnLine(string? line)
    {
        if (line is null) return;
        lock (_output) _output.Add(line);
        if (line.Contains(" listening on ", StringComparison.Ordinal)) _listening.TrySetResult(line);
    }

    /// <summary>The files the process has mapped (/proc/PID/maps): every managed assembly it loaded is among them.</summary>
    public IReadOnlyList<string> MappedFiles()
        => File.ReadAllLines($"/proc/{Pid}/maps").Select(l => l.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries)).Where(p => p.Length == 6)
            .Select(p => p[5].Trim()).Where(p => p.StartsWith('/')).Distinct().ToList();

    /// <summary>Asks the node to stop (SIGTERM, as systemd would) and waits for it to exit.</summary>
    public async Task StopAsync()
    {
        if (!_process.HasExited) Process.Start("kill", ["-TERM", Pid.ToString()])!.WaitForExit();
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
    }

    /// <summary>Ends the node at once (SIGKILL), as a crash would.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }

    [GeneratedRegex(" listening on (.+?); data in ")]
    private static partial Regex ListeningLine();
}
