using CheckpointCache.Engine.Options;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Engine.Storage;

internal static class Engine
{
    // Skeleton only: the FASTER-backed implementation lands in the next commit.
    public static Task<ICacheEngine> OpenAsync(EngineOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
        => throw new NotImplementedException();
}
