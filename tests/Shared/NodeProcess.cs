using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace CheckpointCache.Tests.Shared;

/// <summary>
/// The node executable run as a child process, as an operator runs it. Killed by its pid on Dispose,
/// so a failed test never leaves a node behind.
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

    /// <summary>Starts "checkpointcache serve" with the given arguments and waits until it says where it listens.</summary>
    public static async Task<NodeProcess> StartAsync(IEnumerable<string> args, string? workingDirectory = null, IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        info.ArgumentList.Add(ExecutablePath);
        info.ArgumentList.Add("serve");
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) info.Environment[k] = v;

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

    /// <summary>Asks the node to stop as systemd would (SIGTERM) and waits for it to exit.</summary>
    public async Task<int> StopAsync()
    {
        if (!_process.HasExited && Kill(_process.Id, 15) != 0) throw new InvalidOperationException("kill(SIGTERM) failed");
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        return _process.ExitCode;
    }

    /// <summary>Ends the node at once (SIGKILL), as a crash would.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>Freezes the node (SIGSTOP), as a hung machine or a long GC pause would.</summary>
    public void Pause()
    {
        if (Kill(_process.Id, 19) != 0) throw new InvalidOperationException("kill(SIGSTOP) failed");
    }

    /// <summary>Lets a paused node run on (SIGCONT).</summary>
    public void Resume()
    {
        if (Kill(_process.Id, 18) != 0) throw new InvalidOperationException("kill(SIGCONT) failed");
    }

    public bool HasExited => _process.HasExited;

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

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    [GeneratedRegex(" listening on (.+?); data in ")]
    private static partial Regex ListeningLine();
}
