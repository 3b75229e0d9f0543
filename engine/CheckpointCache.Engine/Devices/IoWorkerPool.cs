using Microsoft.Extensions.Logging;

namespace CheckpointCache.Engine.Devices;

/// <summary>
/// A fixed set of dedicated threads that run blocking pread/pwrite calls from a shared queue.
/// Blocking file I/O on .NET thread-pool threads starves the pool (FASTER's own device does that,
/// see research/faster-throughput.md); here the thread count is the disk queue depth, chosen up front.
/// Idle threads sleep on a monitor and each request wakes one of them: no spinning. (A BlockingCollection's
/// SemaphoreSlim spins and yields before it blocks, and with 16 idle threads per device that spinning took
/// about a sixth of the node's CPU while it served reads on a 2-core machine.)
/// </summary>
internal sealed class IoWorkerPool : IDisposable
{
    private readonly Queue<IoRequest> _queue = new();
    private readonly object _gate = new();
    private bool _completed;
    private readonly Thread[] _threads;
    private readonly Action<IoRequest> _execute;
    private readonly ILogger _logger;
    private int _disposed;

    public IoWorkerPool(string name, int threadCount, Action<IoRequest> execute, ILogger logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threadCount, 1);
        _execute = execute;
        _logger = logger;
        _threads = new Thread[threadCount];
        for (int i = 0; i < threadCount; i++)
        {
            // Background: a process that forgets to dispose the device must still be able to exit.
            _threads[i] = new Thread(Run) { IsBackground = true, Name = $"{name}-io-{i}" };
            _threads[i].Start();
        }
    }

    public int ThreadCount => _threads.Length;

    /// <summary>Queues a request; false once the pool is shutting down.</summary>
    public bool TryEnqueue(in IoRequest request)
    {
        lock (_gate)
        {
            if (_completed) return false;
            _queue.Enqueue(request);
            Monitor.Pulse(_gate);
        }
        return true;
    }

    /// <summary>The next request; false once the pool is shutting down and the queue is empty.</summary>
    private bool TryTake(out IoRequest request)
    {
        lock (_gate)
        {
            while (_queue.Count == 0)
            {
                if (_completed)
                {
                    request = default;
                    return false;
                }
                Monitor.Wait(_gate);
            }
            request = _queue.Dequeue();
            return true;
        }
    }

    private void Run()
    {
        while (TryTake(out var request))
        {
            try
            {
                _execute(request);
            }
            catch (Exception ex)
            {
                // _execute guards the callbacks itself; this only keeps a bug from killing the thread.
                _logger.LogError(ex, "Unexpected failure running {Kind} on segment {Segment}", request.Kind, request.Segment);
            }
        }
    }

    /// <summary>Runs what is already queued, then stops the threads.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        lock (_gate)
        {
            _completed = true;
            Monitor.PulseAll(_gate);
        }
        foreach (var t in _threads)
        {
            // A completion callback may dispose the device from one of our own threads.
            if (t != Thread.CurrentThread) t.Join();
        }
    }
}
