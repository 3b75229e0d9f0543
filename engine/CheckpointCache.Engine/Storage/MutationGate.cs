namespace CheckpointCache.Engine.Storage;

/// <summary>
/// Lets any number of upserts and deletes run together, or one compaction alone. FASTER's lookup compaction
/// copies a record to the tail only if no newer one exists, but a write of the same key racing that check could
/// leave the older copy on top; compaction runs only when a pinned namespace is full, when its writers wait for
/// room anyway, so keeping them out costs little.
/// </summary>
internal sealed class MutationGate
{
    private int _active;
    private volatile TaskCompletionSource? _exclusive;
    private readonly SemaphoreSlim _exclusiveGate = new(1, 1);

    public async ValueTask<Lease> EnterAsync()
    {
        while (true)
        {
            Interlocked.Increment(ref _active);
            var exclusive = _exclusive;
            if (exclusive is null) return new Lease(this);
            // A compaction wants the store to itself: step back until it is done.
            Leave();
            await exclusive.Task.ConfigureAwait(false);
        }
    }

    private void Leave() => Interlocked.Decrement(ref _active);

    /// <summary>Waits until no mutation runs and keeps new ones out until the returned lease is disposed.</summary>
    public async ValueTask<ExclusiveLease> EnterExclusiveAsync(CancellationToken cancellationToken)
    {
        await _exclusiveGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _exclusive = done;
        try
        {
            var spin = new SpinWait();
            while (Volatile.Read(ref _active) > 0)
            {
                if (spin.NextSpinWillYield) await Task.Delay(1, cancellationToken).ConfigureAwait(false);
                else spin.SpinOnce();
            }
        }
        catch
        {
            Release(done);
            throw;
        }
        return new ExclusiveLease(this, done);
    }

    private void Release(TaskCompletionSource done)
    {
        _exclusive = null;
        done.TrySetResult();
        _exclusiveGate.Release();
    }

    public readonly struct Lease(MutationGate gate) : IDisposable
    {
        public void Dispose() => gate?.Leave();
    }

    public readonly struct ExclusiveLease(MutationGate gate, TaskCompletionSource done) : IDisposable
    {
        public void Dispose() => gate?.Release(done);
    }
}
