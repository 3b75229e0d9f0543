using System.Diagnostics;
using CheckpointCache.Client.Files;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Mount.FileSystem;

/// <summary>
/// Runs calls to the node, waiting and retrying while it is unreachable (restarting, socket gone)
/// for up to Mount:NodeRetryTimeout, so a node restart under a live mount only pauses it. A call
/// that reached the node and was refused is not retried.
/// </summary>
internal sealed class NodeCalls(FilesClient client, TimeSpan retryTimeout, ILogger logger)
{
    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(1);
    private int _down;

    public FilesClient Client => client;

    public static bool IsUnreachable(Exception e) => e switch
    {
        FilesClientException f => f.IsUnavailable || (f.Status == StatusCode.Internal && f.InnerException?.InnerException is IOException or HttpRequestException),
        RpcException r => r.StatusCode == StatusCode.Unavailable,
        HttpRequestException or IOException => true,
        _ => false,
    };

    public async Task<T> RunAsync<T>(Func<Task<T>> call)
    {
        var clock = Stopwatch.StartNew();
        var delay = FirstDelay;
        while (true)
        {
            try
            {
                var result = await call().ConfigureAwait(false);
                if (Interlocked.Exchange(ref _down, 0) != 0) logger.LogInformation("Node is reachable again");
                return result;
            }
            catch (Exception e) when (IsUnreachable(e))
            {
                if (Interlocked.Exchange(ref _down, 1) == 0) logger.LogWarning("Node unreachable ({Reason}); operations wait up to {Timeout} for it", e.Message, retryTimeout);
                if (clock.Elapsed >= retryTimeout)
                    throw new NodeUnavailableException($"the node was unreachable for {retryTimeout}: {e.Message}", e);
                await Task.Delay(delay).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(MaxDelay.Ticks, delay.Ticks * 2));
            }
        }
    }

    public Task RunAsync(Func<Task> call) => RunAsync(async () => { await call().ConfigureAwait(false); return true; });
}
