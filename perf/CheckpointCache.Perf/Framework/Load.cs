using System.Diagnostics;

namespace CheckpointCache.Perf.Framework;

/// <summary>Operations completed, wall time and latencies of one load phase.</summary>
public sealed record LoadResult(long Operations, TimeSpan Elapsed, LatencySummary Latency);

/// <summary>Drives an async operation from a fixed number of concurrent workers: concurrency = outstanding requests.</summary>
public static class Load
{
    /// <summary>
    /// Each worker calls <paramref name="operation"/> (with its worker index) until it returns false
    /// (no work left; that call is not counted) or <paramref name="duration"/> has passed.
    /// </summary>
    /// <param name="latency">Records into this recorder (e.g. to merge several slices of one phase); a new one when null.</param>
    public static async Task<LoadResult> RunAsync(int workers, TimeSpan? duration, Func<int, ValueTask<bool>> operation,
        LatencyRecorder? latency = null, CancellationToken cancellationToken = default)
    {
        latency ??= new LatencyRecorder(workers);
        long operations = 0;
        long deadline = duration is { } d ? Stopwatch.GetTimestamp() + (long)(d.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
        var stopwatch = Stopwatch.StartNew();
        var tasks = new Task[workers];
        for (int w = 0; w < workers; w++)
        {
            int worker = w;
            tasks[w] = Task.Run(async () =>
            {
                while (Stopwatch.GetTimestamp() < deadline && !cancellationToken.IsCancellationRequested)
                {
                    long start = Stopwatch.GetTimestamp();
                    if (!await operation(worker).ConfigureAwait(false)) break;
                    latency.Record(worker, start);
                    Interlocked.Increment(ref operations);
                }
            }, cancellationToken);
        }
        await Task.WhenAll(tasks).ConfigureAwait(false);
        stopwatch.Stop();
        return new LoadResult(operations, stopwatch.Elapsed, latency.Summarize());
    }

    /// <summary>
    /// The same with a synchronous operation on <paramref name="workers"/> threads of their own, as a caller that
    /// loads from its own threads (an inference server's loader threads) does; returns once every thread ended.
    /// </summary>
    public static Task<LoadResult> RunOnThreadsAsync(int workers, TimeSpan duration, Func<int, bool> operation,
        LatencyRecorder? latency = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        latency ??= new LatencyRecorder(workers);
        long operations = 0;
        long deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var stopwatch = Stopwatch.StartNew();
        var ended = new TaskCompletionSource<LoadResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        int running = workers;
        Exception? failure = null;
        for (int w = 0; w < workers; w++)
        {
            int worker = w;
            new Thread(() =>
            {
                try
                {
                    while (Stopwatch.GetTimestamp() < deadline && !cancellationToken.IsCancellationRequested)
                    {
                        long start = Stopwatch.GetTimestamp();
                        if (!operation(worker)) break;
                        latency.Record(worker, start);
                        Interlocked.Increment(ref operations);
                    }
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref failure, e, null);
                }
                if (Interlocked.Decrement(ref running) != 0) return;
                stopwatch.Stop();
                try
                {
                    if (failure is not null) ended.TrySetException(failure);
                    else ended.TrySetResult(new LoadResult(Interlocked.Read(ref operations), stopwatch.Elapsed, latency.Summarize()));
                }
                catch (Exception e)
                {
                    // An exception on this thread would end the process and leave the caller waiting.
                    ended.TrySetException(e);
                }
            }) { IsBackground = true, Name = "perf caller" }.Start();
        }
        return ended.Task;
    }
}
