namespace CheckpointCache.Engine.Storage;

/// <summary>
/// Holds a store's writes back while one of its checkpoints runs. A FASTER upsert that meets a checkpoint's phase
/// change retries in a loop of refresh and Thread.Yield; with a burst of writers on a small machine those loops held
/// both cores for seconds and starved the checkpoint they waited for (mount writes fell to 53-322 MB/s in 4 of 14
/// checkpoint benchmark runs, the node at 1-1.8 cores, two thirds of its samples in that retry). Waiting here
/// costs no CPU, and a writer outside FASTER holds no epoch the checkpoint needs.
/// </summary>
internal sealed class CheckpointFence
{
    private volatile TaskCompletionSource? _running;

    /// <summary>Completes when no checkpoint runs (at once, mostly).</summary>
    public Task WaitAsync() => _running?.Task ?? Task.CompletedTask;

    public bool IsRaised => _running is not null;

    /// <summary>A checkpoint starts: writes that arrive from now on wait until <see cref="Lower"/>.</summary>
    public void Raise() => _running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Lower()
    {
        var running = _running;
        _running = null;
        running?.TrySetResult();
    }
}
