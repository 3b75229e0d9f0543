using CheckpointCache.Engine;
using CheckpointCache.Engine.Options;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Node.Hosting;

/// <summary>What an embedding host (tests, benchmarks) may change about how a node starts; configuration covers the rest.</summary>
public sealed class NodeStartOptions
{
    /// <summary>Opens the engine; the default is <see cref="CacheEngine.OpenAsync"/> over the configured data directory.</summary>
    public Func<EngineOptions, ILoggerFactory, CancellationToken, Task<ICacheEngine>>? EngineFactory { get; init; }

    /// <summary>Extra logging setup, e.g. a test's output sink.</summary>
    public Action<ILoggingBuilder>? ConfigureLogging { get; init; }
}
