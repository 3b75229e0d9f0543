using System.Diagnostics;
using System.Runtime.InteropServices;
using CheckpointCache.Node.Lifecycle;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Node.Hosting;

/// <summary>The SIGTERM path: drain with the listeners still up, then stop, all within Node:ShutdownTimeout.</summary>
public sealed partial class NodeApplication
{
    /// <summary>Share of Node:ShutdownTimeout the drain may use; the rest is for closing listeners (at most
    /// <see cref="StopShare"/>, the host's own stop timeout) and the final commit.</summary>
    private const double DrainShare = 0.75;

    internal const double StopShare = 0.2;

    /// <summary>
    /// Runs until SIGTERM or Ctrl+C (or <paramref name="cancellationToken"/>), then drains, stops and disposes the
    /// node. A watchdog ends the process with <see cref="ExitCodes.ShutdownTimedOut"/> if all that has not finished
    /// within Node:ShutdownTimeout. Returns the exit code.
    /// </summary>
    public async Task<int> RunUntilStoppedAsync(CancellationToken cancellationToken = default)
    {
        var lifetime = _app.Services.GetRequiredService<IHostApplicationLifetime>();
        var lifecycle = _app.Services.GetRequiredService<NodeLifecycle>();
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // The host's console lifetime turns SIGTERM and Ctrl+C into ApplicationStopping and keeps the process
        // alive; the listeners keep running until this method stops them, so in-flight calls finish during the drain.
        using (lifetime.ApplicationStopping.Register(() => stopping.TrySetResult()))
        using (cancellationToken.Register(() => stopping.TrySetResult()))
            await stopping.Task.ConfigureAwait(false);

        var timeout = lifecycle.Timeout;
        var started = Stopwatch.GetTimestamp();
        _logger.LogInformation("Shutdown requested: draining, then stopping within Node:ShutdownTimeout ({Timeout})", timeout);
        using var watchdog = new Timer(_ => ExitNow(timeout), null, timeout, System.Threading.Timeout.InfiniteTimeSpan);

        DrainResult? drain = null;
        try
        {
            drain = await lifecycle.DrainAsync("shutdown", timeout * DrainShare).WaitAsync(timeout * DrainShare).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _logger.LogWarning("The drain did not finish within {Share:P0} of Node:ShutdownTimeout; stopping anyway", DrainShare);
        }
        await DisposeAsync().ConfigureAwait(false);
        int code = drain is { Completed: true } ? ExitCodes.Clean : ExitCodes.DrainIncomplete;
        _logger.LogInformation("Shutdown complete in {Seconds:F3} s: drain {Drain}; exit code {ExitCode}",
            Stopwatch.GetElapsedTime(started).TotalSeconds, drain is { Completed: true } ? "complete" : "incomplete", code);
        return code;
    }

    /// <summary>The watchdog: the stop took longer than allowed, so the process ends now, as a crash would; the next start recovers.</summary>
    private static void ExitNow(TimeSpan timeout)
    {
        // Straight to stderr: the logger's queue may not be written before _exit.
        Console.Error.WriteLine($"checkpointcache: Node:ShutdownTimeout ({timeout}) passed before the node had stopped; exiting now with code {ExitCodes.ShutdownTimedOut} (the next start recovers from the last checkpoint)");
        Console.Error.Flush();
        SysExit(ExitCodes.ShutdownTimedOut);
    }

    [DllImport("libc", EntryPoint = "_exit")]
    private static extern void SysExit(int status);
}
