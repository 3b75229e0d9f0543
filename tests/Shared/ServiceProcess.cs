using System.Diagnostics;

namespace CheckpointCache.Tests.Shared;

/// <summary>
/// A service a test needs (etcd, Azurite) as a child process: started, its output kept, and handed back once it
/// prints that it is ready; stopped by its pid. The services' own classes say how to start them and when they are ready.
/// </summary>
public sealed class ServiceProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _output;

    private ServiceProcess(Process process, List<string> output)
    {
        _process = process;
        _output = output;
    }

    public bool Running => !_process.HasExited;

    /// <summary>Starts <paramref name="info"/> and waits until a line of its output contains <paramref name="readyText"/>; lines go to <paramref name="output"/>.</summary>
    public static async Task<ServiceProcess> StartAsync(ProcessStartInfo info, string readyText, string name, List<string> output)
    {
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        void OnLine(string? line)
        {
            if (line is null) return;
            lock (output) output.Add(line);
            if (line.Contains(readyText, StringComparison.Ordinal)) ready.TrySetResult();
        }
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.Exited += (_, _) =>
        {
            lock (output) ready.TrySetException(new InvalidOperationException($"{name} exited before it was ready:\n" + string.Join('\n', output)));
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var service = new ServiceProcess(process, output);
        try
        {
            // A safety net against a hung start, not a performance expectation.
            await ready.Task.WaitAsync(TimeSpan.FromMinutes(1));
            return service;
        }
        catch
        {
            service.Dispose();
            throw;
        }
    }

    /// <summary>SIGTERM by pid, so the service saves its state, then waits for it to exit.</summary>
    public async Task TerminateAsync()
    {
        if (!_process.HasExited) Process.Start("kill", ["-TERM", _process.Id.ToString()])!.WaitForExit();
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
    }

    /// <summary>SIGKILL, as a crash would.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill();
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}
