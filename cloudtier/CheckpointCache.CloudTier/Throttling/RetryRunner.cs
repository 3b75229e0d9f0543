using System.Net.Sockets;
using Azure;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.CloudTier.Throttling;

/// <summary>
/// Runs one Blob request with jittered exponential backoff on what a retry can fix: 500, 502, 503, 504 (server busy or
/// throttling), 408, 429, timeouts and connection failures. The SDK's own retries are off, so every attempt passes the
/// counting policy and the rate limits; after MaxAttempts the error goes to the writeback queue, which retries the
/// object later (so an outage of minutes only grows the backlog).
/// </summary>
internal sealed class RetryRunner(int maxAttempts, TimeSpan minBackoff, TimeSpan maxBackoff, ILogger logger)
{
    public long Retries;

    public async Task<T> RunAsync<T>(string what, Func<CancellationToken, Task<T>> attempt, CancellationToken cancellationToken)
    {
        for (int n = 1; ; n++)
        {
            try
            {
                return await attempt(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (n < maxAttempts && IsTransient(e, cancellationToken))
            {
                Interlocked.Increment(ref Retries);
                var delay = Delay(n);
                logger.LogDebug("Blob {What} failed (attempt {Attempt} of {MaxAttempts}), retrying in {DelayMs:F0} ms: {Error}", what, n, maxAttempts, delay.TotalMilliseconds, e.Message);
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public Task RunAsync(string what, Func<CancellationToken, Task> attempt, CancellationToken cancellationToken)
        => RunAsync<bool>(what, async ct => { await attempt(ct).ConfigureAwait(false); return true; }, cancellationToken);

    /// <summary>Full jitter between half and all of min x 2^(n-1), capped.</summary>
    internal TimeSpan Delay(int attempt)
    {
        double ms = minBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30));
        ms = Math.Min(ms, maxBackoff.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(ms * (0.5 + Random.Shared.NextDouble() / 2));
    }

    internal static bool IsTransient(Exception e, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested) return false;
        return e switch
        {
            RequestFailedException r => r.Status is 0 or 408 or 429 or 500 or 502 or 503 or 504,
            HttpRequestException or IOException or SocketException or TimeoutException => true,
            OperationCanceledException => true, // a request timeout, not the caller's cancellation (checked above)
            AggregateException a => a.InnerExceptions.All(i => IsTransient(i, cancellationToken)),
            _ => false,
        };
    }
}
