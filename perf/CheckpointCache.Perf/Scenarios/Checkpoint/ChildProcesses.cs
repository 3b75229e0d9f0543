using System.Diagnostics;
using System.Runtime.InteropServices;

namespace CheckpointCache.Perf.Scenarios.Checkpoint;

/// <summary>The node and the mount as child processes, as an operator runs them; stopped with SIGTERM by pid.</summary>
public sealed partial class ChildProcesses : IAsyncDisposable
{
    private readonly List<Process> _processes = [];

    /// <summary>Starts "dotnet DLL args" from this program's folder and waits for a line containing <paramref name="ready"/>.</summary>
    public async Task<Process> StartAsync(string dll, IEnumerable<string> args, string ready, Action<string> log)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, dll));
        foreach (var a in args) info.ArgumentList.Add(a);
        var process = new Process { StartInfo = info };
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null) return;
            if (line.Contains(ready, StringComparison.Ordinal)) seen.TrySetResult();
            if (line.Contains("fail", StringComparison.OrdinalIgnoreCase) || line.Contains("crit", StringComparison.OrdinalIgnoreCase)) log($"{dll}: {line}");
        }
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add(process);
        var exited = process.WaitForExitAsync();
        if (await Task.WhenAny(seen.Task, exited, Task.Delay(TimeSpan.FromMinutes(3))) != seen.Task)
            throw new InvalidOperationException($"{dll} did not start (exited: {process.HasExited})");
        return process;
    }

    /// <summary>CPU time the child processes have used so far (user + system), for CPU cost per byte.</summary>
    public TimeSpan CpuTime(Process process)
    {
        try { process.Refresh(); return process.TotalProcessorTime; }
        catch (InvalidOperationException) { return TimeSpan.Zero; }
    }

    public async ValueTask DisposeAsync()
    {
        // The mount first (it unmounts), then the node.
        foreach (var process in Enumerable.Reverse(_processes))
        {
            if (!process.HasExited) Kill(process.Id, 15);
            if (!process.WaitForExit(60_000)) process.Kill();
            await process.WaitForExitAsync();
            process.Dispose();
        }
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);
}
