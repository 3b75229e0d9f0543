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

    public void Enqueue(IEnumerable<BlockRef> blocks)
    {
        foreach (var block in blocks) _queue.Writer.TryWrite(block);
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
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
    }
}
