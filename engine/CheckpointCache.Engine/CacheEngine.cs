using CheckpointCache.Engine.Options;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CheckpointCache.Engine;

/// <summary>Opens the engine over a data directory, recovering whatever a previous run left there.</summary>
public static class CacheEngine
{
    public static Task<ICacheEngine> OpenAsync(EngineOptions options, ILoggerFactory? loggerFactory = null, CancellationToken cancellationToken = default)
        => Storage.Engine.OpenAsync(options, loggerFactory ?? NullLoggerFactory.Instance, cancellationToken);
}
