using System.Diagnostics;
using System.Runtime.InteropServices;

namespace CheckpointCache.Mount.Tests.Infrastructure;

/// <summary>
/// A dotnet executable of this repository run as a child process, its output collected. Stopped by its
/// pid: SIGTERM as an operator would, SIGKILL as a crash would; Dispose kills what is still running.
/// </summary>
public sealed partial class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _output = [];
    private readonly List<(string Text, TaskCompletionSource<string> Seen)> _waits = [];

    private ChildProcess(Process process)
    {
        _process = process;
    }

    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public string Output { get { lock (_output) return string.Join('\n', _output); } }

    public static ChildProcess Start(string dll, IEnumerable<string> args, string workingDirectory)
        => StartProgram("dotnet", [Path.Combine(AppContext.BaseDirectory, dll), .. args], workingDirectory);

    /// <summary>Any program (python3 for a writer whose progress the test follows line by line).</summary>
    public static ChildProcess StartProgram(string program, IEnumerable<string> args, string workingDirectory)
    {
        var dll = program;
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        var child = new ChildProcess(new Process { StartInfo = info, EnableRaisingEvents = true });
        child._process.OutputDataReceived += (_, e) => child.OnLine(e.Data);
        child._process.ErrorDataReceived += (_, e) => child.OnLine(e.Data);
        child._process.Exited += (_, _) => Task.Run(() =>
        {
            // Exited can fire before the last lines are delivered: drain the output first, so a wait for a line the
            // process did print is answered by the line, not by its exit.
            child._process.WaitForExit();
            lock (child._output)
                foreach (var (_, seen) in child._waits) seen.TrySetException(new InvalidOperationException($"{dll} exited ({child._process.ExitCode}):\n" + string.Join('\n', child._output)));
        });
        child._process.Start();
        child._process.BeginOutputReadLine();
        child._process.BeginErrorReadLine();
        return child;
    }

    private void OnLine(string? line)
    {
        if (line is null) return;
        lock (_output)
        {
            _output.Add(line);
            foreach (var (text, seen) in _waits)
                if (line.Contains(text, StringComparison.Ordinal)) seen.TrySetResult(line);
        }
    }

    /// <summary>Waits for a line containing <paramref name="text"/> (a safety net of minutes against a hang, not a performance bound).</summary>
    public async Task<string> WaitForLineAsync(string text)
    {
        var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (_process.HasExited) _process.WaitForExit(); // its last lines may still be on their way
        lock (_output)
        {
            var found = _output.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal));
            if (found is not null) return found;
            if (_process.HasExited) throw new InvalidOperationException("the process exited:\n" + string.Join('\n', _output));
            _waits.Add((text, seen));
        }
        return await seen.Task.WaitAsync(TimeSpan.FromMinutes(3));
    }

    public async Task<int> TerminateAsync()
    {
        if (!_process.HasExited && Kill(_process.Id, 15) != 0) throw new InvalidOperationException("kill(SIGTERM) failed");
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        return _process.ExitCode;
    }

    /// <summary>Waits for the process to end by itself; returns its exit code.</summary>
    public async Task<int> WaitForExitAsync()
    {
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(5));
        return _process.ExitCode;
    }

    public IReadOnlyList<string> Lines { get { lock (_output) return _output.ToList(); } }

    public async Task KillAsync()
    {
        if (!_process.HasExited) Kill(_process.Id, 9);
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                Kill(_process.Id, 15);
                if (!_process.WaitForExit(20_000)) { Kill(_process.Id, 9); _process.WaitForExit(10_000); }
            }
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);
}
