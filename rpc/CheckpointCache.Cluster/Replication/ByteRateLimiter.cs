using System.Diagnostics;

namespace CheckpointCache.Cluster.Replication;

/// <summary>A token bucket over bytes: rebalance and refill traffic waits here so it never takes more than its cap.</summary>
public sealed class ByteRateLimiter(long bytesPerSecond)
{
    private readonly Lock _gate = new();
    private readonly long _burst = Math.Max(bytesPerSecond / 4, 1024 * 1024);
    private double _tokens;
    private long _last = Stopwatch.GetTimestamp();

    public long BytesPerSecond => bytesPerSecond;

    public async ValueTask WaitAsync(long bytes, CancellationToken ct)
    {
        while (true)
        {
            TimeSpan wait;
            lock (_gate)
            {
                var now = Stopwatch.GetTimestamp();
                _tokens = Math.Min(_burst, _tokens + Stopwatch.GetElapsedTime(_last, now).TotalSeconds * bytesPerSecond);
                _last = now;
                // A frame bigger than the burst still goes once the bucket is full, leaving it in debt.
                if (_tokens >= Math.Min(bytes, _burst)) { _tokens -= bytes; return; }
                wait = TimeSpan.FromSeconds((Math.Min(bytes, _burst) - _tokens) / bytesPerSecond);
            }
            await Task.Delay(wait, ct).ConfigureAwait(false);
        }
    }
}
