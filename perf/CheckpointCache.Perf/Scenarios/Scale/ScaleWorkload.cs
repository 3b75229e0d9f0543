using System.Collections.Concurrent;
using System.Text;
using CheckpointCache.Client;

namespace CheckpointCache.Perf.Scenarios.Scale;

/// <summary>
/// The steady load of the scale study, one pair of loops per node: a KV put of one value into the hashed store every
/// put interval (through that node, which writes it to the key's owners), and a checkpoint file written into the
/// node's files store every checkpoint interval (committed locally, uploaded to Blob behind). Each loop starts at a
/// random offset so the nodes do not tick together. Nothing here talks to etcd.
/// </summary>
internal sealed class ScaleWorkload : IAsyncDisposable
{
    private readonly ScaleWorkloadOptions _options;
    private readonly KvNamespace _ns;
    private readonly byte[] _value, _checkpoint;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private readonly ConcurrentQueue<byte[]> _written = new();
    private readonly ConcurrentQueue<string> _errors = new();
    private long _sequence, _underReplicated, _putFailures, _files, _fileFailures;
    private readonly int _replicas;
    private int _step;

    public ScaleWorkload(ScaleWorkloadOptions options, KvNamespace ns, int replicas)
    {
        _options = options;
        _replicas = replicas;
        _ns = ns;
        var random = new Random(42);
        _value = new byte[options.ValueBytes];
        random.NextBytes(_value);
        _checkpoint = new byte[options.CheckpointBytes];
        random.NextBytes(_checkpoint);
    }

    /// <summary>Puts that succeeded.</summary>
    public long Puts => _written.Count;
    public long UnderReplicated => Interlocked.Read(ref _underReplicated);
    public long PutFailures => Interlocked.Read(ref _putFailures);
    public long Files => Interlocked.Read(ref _files);
    public long FileFailures => Interlocked.Read(ref _fileFailures);
    /// <summary>Client keys of the hashed store whose put succeeded.</summary>
    public IReadOnlyCollection<byte[]> Written => _written;
    public IEnumerable<string> Errors => _errors;

    public void Start(IEnumerable<ScaleNode> nodes)
    {
        var random = new Random(7);
        foreach (var node in nodes)
        {
            _loops.Add(Task.Run(() => EveryAsync(_options.PutInterval, random.NextDouble(), () => PutAsync(node))));
            _loops.Add(Task.Run(() => EveryAsync(_options.CheckpointInterval, random.NextDouble(), () => CheckpointAsync(node))));
        }
    }

    public async Task StopAsync()
    {
        _stop.Cancel();
        await Task.WhenAll(_loops);
    }

    private async Task EveryAsync(TimeSpan interval, double offset, Func<Task> work)
    {
        try
        {
            await Task.Delay(interval * offset, _stop.Token);
            using var timer = new PeriodicTimer(interval);
            do
            {
                try
                {
                    await work();
                }
                catch (Exception e) when (!_stop.IsCancellationRequested && e is not OutOfMemoryException)
                {
                    // Counted as a failure by the caller; the loop goes on, as a client would.
                    if (_errors.Count < 20) _errors.Enqueue(e.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(_stop.Token));
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
            // Stopped: a call cut short by the stop is neither a success nor a failure.
        }
    }

    private async Task PutAsync(ScaleNode node)
    {
        var key = Encoding.UTF8.GetBytes($"{node.Id}/k{Interlocked.Increment(ref _sequence):D9}");
        try
        {
            var result = (await node.Client.BatchPutAsync(_ns, [new KvItem(key, _value)], _stop.Token))[0];
            if (result.Ok)
            {
                _written.Enqueue(key);
                // The node retries the missing copy in the background; the key is still counted as written.
                if (result.Replicas < _replicas) Interlocked.Increment(ref _underReplicated);
            }
            else { Interlocked.Increment(ref _putFailures); if (_errors.Count < 20) _errors.Enqueue(result.Message); }
        }
        catch when (!_stop.IsCancellationRequested)
        {
            Interlocked.Increment(ref _putFailures);
            throw;
        }
    }

    private async Task CheckpointAsync(ScaleNode node)
    {
        int step = Interlocked.Increment(ref _step);
        var dir = $"/ckpt/{node.Id}/step-{step:D6}";
        try
        {
            await node.Files.MkdirAsync(dir, parents: true, ct: _stop.Token);
            await node.Files.UploadAsync(dir + "/shard.pt", new MemoryStream(_checkpoint, writable: false), ct: _stop.Token);
            Interlocked.Increment(ref _files);
        }
        catch when (!_stop.IsCancellationRequested)
        {
            Interlocked.Increment(ref _fileFailures);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested) await StopAsync();
        _stop.Dispose();
    }
}
