using Microsoft.Extensions.Logging;

namespace CheckpointCache.Perf.Scenarios.Scale;

/// <summary>
/// Hands an in-process node's loggers to the perf tool's logger factory: one stderr sink and one minimum level for
/// every node, instead of a console logger (and its writer thread) per node.
/// </summary>
internal sealed class ForwardingLoggerProvider(ILoggerFactory target) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => target.CreateLogger(categoryName);

    public void Dispose()
    {
        // The target belongs to the perf tool.
    }
}
