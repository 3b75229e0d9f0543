using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Engine.Files;

/// <summary>
/// Deletes blocks no version refers to any more, in the background: a delete of a large file
/// returns once its journal record is written, not after a tombstone per block. Blocks left
/// behind by a crash are unreachable and only cost space.
/// </summary>
internal sealed class BlockReaper : IAsyncDisposable
{
    private readonly ICacheNamespace _ns;
    private readonly ILogger _logger;
    private readonly Channel<BlockRef> _queue = Channel.CreateUnbounded<BlockRef>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;

    public BlockReaper(ICacheNamespace ns, ILogger logger)
    {
        _ns = ns;
        _logger = logger;
        _loop = Task.Run(RunAsync);
    }

    private long _pending;

    /// <summary>Blocks queued and not yet deleted.</summary>
    public long Pending => Interlocked.Read(ref _pending);

    public void Enqueue(IEnumerable<BlockRef> blocks)
    {
        foreach (var block in blocks)
            if (_queue.Writer.TryWrite(block)) Interlocked.Increment(ref _pending);
    }

    /// <summary>
    /// Waits until what was queued so far is deleted (or the wait runs out): a writer that found the namespace full
    /// right after a large delete retries once the space it freed is known to the engine.
    /// </summary>
    public async Task<bool> WaitDrainedAsync(TimeSpan limit, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + limit;
        while (Pending > 0)
        {
            if (DateTime.UtcNow >= deadline) return false;
            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
        return true;
    }

    private async Task RunAsync()
    {
        await foreach (var block in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                await _ns.DeleteAsync(block.Key()).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                _logger.LogDebug(e, "Could not delete block {Index} version {Version:x} of file {FileId}", block.Index, block.Version, block.FileId);
            }
            finally
            {
                Interlocked.Decrement(ref _pending);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
    }
}
