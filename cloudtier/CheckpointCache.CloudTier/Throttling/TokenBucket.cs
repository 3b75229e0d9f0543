using System.Diagnostics;

namespace CheckpointCache.CloudTier.Throttling;

/// <summary>
/// A token bucket that lends: a caller takes what it needs at once (even more than the burst, as one large block
/// does) and waits until the balance is paid back at the configured rate. Rate 0 means unlimited.
/// </summary>
internal sealed class TokenBucket
{
    private readonly object _lock = new();
    private readonly double _rate;
    private readonly double _burst;
    private double _tokens;
    private long _last = Stopwatch.GetTimestamp();

    public TokenBucket(double ratePerSecond, double burst)
    {
        _rate = ratePerSecond;
        _burst = burst;
        _tokens = burst;
    }

    public bool Unlimited => _rate <= 0;

    public Task TakeAsync(double amount, CancellationToken cancellationToken)
    {
        if (Unlimited || amount <= 0) return Task.CompletedTask;
        double debt;
        lock (_lock)
        {
            long now = Stopwatch.GetTimestamp();
            _tokens = Math.Min(_burst, _tokens + Stopwatch.GetElapsedTime(_last, now).TotalSeconds * _rate);
            _last = now;
            _tokens -= amount;
            debt = -_tokens;
        }
        return debt <= 0 ? Task.CompletedTask : Task.Delay(TimeSpan.FromSeconds(debt / _rate), cancellationToken);
    }

    /// <summary>Gives back what a request took but never sent (it failed to connect), so an outage does not pile up debt.</summary>
    public void Refund(double amount)
    {
        if (Unlimited || amount <= 0) return;
        lock (_lock) _tokens = Math.Min(_burst, _tokens + amount);
    }
}
