using System.Diagnostics;
using CheckpointCache.Engine.Options;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Engine.Storage;

/// <summary>
/// The engine over one data directory: one store per configured namespace, plus a background
/// loop that checkpoints periodically and trims evictable namespaces that reads have grown
/// (copying SSD hits to the tail appends to the log without a write reservation).
/// </summary>
internal sealed class Engine : ICacheEngine
{
    private readonly Dictionary<string, CacheNamespace> _namespaces;
    private readonly EngineOptions _options;
    private readonly ILogger _logger;
    private readonly FileStream _lock;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _maintenance;
    private int _disposed;

    private Engine(Dictionary<string, CacheNamespace> namespaces, EngineOptions options, ILogger logger, FileStream lockFile, TimeSpan recoveryTime)
    {
        _namespaces = namespaces;
        _options = options;
        _logger = logger;
        _lock = lockFile;
        RecoveryTime = recoveryTime;
        _maintenance = Task.Run(MaintainAsync);
    }

    public TimeSpan RecoveryTime { get; }
    public IReadOnlyCollection<ICacheNamespace> Namespaces => _namespaces.Values;

    public static Task<ICacheEngine> OpenAsync(EngineOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var logger = loggerFactory.CreateLogger<Engine>();
        if (options.MaxKeyBytes < 1) throw new CacheException(CacheErrorCode.InvalidArgument, $"MaxKeyBytes {options.MaxKeyBytes} must be at least 1");
        if (options.MaxValueBytes.Bytes < 1 || options.MaxValueBytes.Bytes > 1L << 30)
            throw new CacheException(CacheErrorCode.InvalidArgument, $"MaxValueBytes {options.MaxValueBytes} must be between 1 byte and 1GiB");
        var dataDirectory = Path.GetFullPath(options.DataDirectory);
        Directory.CreateDirectory(dataDirectory);
        // Two processes on one data directory would corrupt each other's logs.
        FileStream lockFile;
        try
        {
            lockFile = new FileStream(Path.Combine(dataDirectory, ".lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new CacheException(CacheErrorCode.InvalidArgument, $"data directory {dataDirectory} is in use by another process ({ex.Message})");
        }

        var stopwatch = Stopwatch.StartNew();
        var namespaces = new Dictionary<string, CacheNamespace>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, policy) in options.EffectiveNamespaces())
            {
                cancellationToken.ThrowIfCancellationRequested();
                ValidateName(name);
                var store = NamespaceStore.Open(name, policy.Clone(), options, PinnedBufferPool.Shared, loggerFactory);
                namespaces[name] = new CacheNamespace(store, options, loggerFactory.CreateLogger($"CheckpointCache.Engine.Namespace.{name}"));
            }
        }
        catch
        {
            foreach (var ns in namespaces.Values) ns.Store.Dispose();
            lockFile.Dispose();
            throw;
        }
        stopwatch.Stop();
        logger.LogInformation("Engine opened {DataDirectory} with {Count} namespaces in {RecoveryMs} ms (direct I/O: {DirectIo})",
            dataDirectory, namespaces.Count, stopwatch.Elapsed.TotalMilliseconds, options.DirectIo);
        return Task.FromResult<ICacheEngine>(new Engine(namespaces, options, logger, lockFile, stopwatch.Elapsed));
    }

    private static void ValidateName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 64 || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_')))
            throw new CacheException(CacheErrorCode.InvalidArgument, $"namespace name '{name}' must be 1-64 characters of letters, digits, '-' or '_'");
    }

    public ICacheNamespace GetNamespace(string name)
        => _namespaces.TryGetValue(name, out var ns) ? ns
            : throw new CacheException(CacheErrorCode.NamespaceNotFound, $"namespace '{name}' is not configured (configured: {string.Join(", ", _namespaces.Keys)})");

    public bool TryGetNamespace(string name, out ICacheNamespace? ns)
    {
        var found = _namespaces.TryGetValue(name, out var cacheNamespace);
        ns = cacheNamespace;
        return found;
    }

    public async ValueTask CommitAsync(CancellationToken cancellationToken = default)
    {
        foreach (var ns in _namespaces.Values) await ns.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    public EngineStats GetStats() => new(_namespaces.Values.Select(n => n.GetStats()).ToList(), RecoveryTime);

    private async Task MaintainAsync()
    {
        var lastCheckpoint = Stopwatch.StartNew();
        var period = _options.EvictionInterval > TimeSpan.Zero ? _options.EvictionInterval : TimeSpan.FromSeconds(1);
        using var timer = new PeriodicTimer(period);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                bool checkpointDue = _options.CheckpointInterval > TimeSpan.Zero && lastCheckpoint.Elapsed >= _options.CheckpointInterval;
                foreach (var ns in _namespaces.Values)
                {
                    try
                    {
                        if (ns.Store.Policy.IsEvictable && ns.Capacity.Projected(0) > ns.Capacity.LogLimit)
                            await ns.Capacity.EvictAsync(0, _stop.Token).ConfigureAwait(false);
                        if (checkpointDue) await ns.Checkpoints.CheckpointIfChangedAsync(_stop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                    {
                        return;
                    }
                    catch (Exception ex)
                    {
                        _logger.LogError(ex, "Maintenance of namespace {Namespace} failed; retrying next period", ns.Name);
                    }
                }
                if (checkpointDue) lastCheckpoint.Restart();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        await _maintenance.ConfigureAwait(false);
        foreach (var ns in _namespaces.Values)
        {
            try
            {
                // A clean shutdown keeps everything written so far, committed or not.
                await ns.Checkpoints.CommitAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                _logger.LogError(ex, "Final checkpoint of namespace {Namespace} failed", ns.Name);
            }
            ns.Store.Dispose();
        }
        _lock.Dispose();
        _stop.Dispose();
        _logger.LogInformation("Engine closed");
    }
}
