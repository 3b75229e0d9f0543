using CheckpointCache.Engine;
using CheckpointCache.Engine.Files;
using CheckpointCache.Engine.Options;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Node.Files;

/// <summary>
/// The files layer of every store of kind files, opened after the engine (recovering each tree) and
/// closed before it. Sessions are found by id across stores: a session id names its store.
/// </summary>
public sealed class FileTreeRegistry : IAsyncDisposable
{
    public const string DefaultStore = "files";
    private readonly Dictionary<string, FileTree> _trees;

    private FileTreeRegistry(Dictionary<string, FileTree> trees, IColdTier? coldTier, int prefetchParallelism)
    {
        _trees = trees;
        ColdTier = coldTier;
        PrefetchParallelism = prefetchParallelism;
    }

    /// <summary>The cloud tier every files store reads through from (and writes back to, by its mode); null when Cloud:Enabled is false.</summary>
    public IColdTier? ColdTier { get; }

    /// <summary>Objects a Prefetch call restores at once when it does not say.</summary>
    public int PrefetchParallelism { get; }

    /// <summary>Changes at every start, so a client can tell that sessions it held are gone.</summary>
    public string Instance { get; } = Guid.NewGuid().ToString("N");

    public IReadOnlyCollection<FileTree> Trees => _trees.Values;

    public static async Task<FileTreeRegistry> OpenAsync(ICacheEngine engine, FilesOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
        => await OpenAsync(engine, options, loggerFactory, coldTier: null, prefetchParallelism: 4, cancellationToken);

    public static async Task<FileTreeRegistry> OpenAsync(ICacheEngine engine, FilesOptions options, ILoggerFactory loggerFactory, IColdTier? coldTier, int prefetchParallelism,
        CancellationToken cancellationToken)
    {
        var trees = new Dictionary<string, FileTree>(StringComparer.Ordinal);
        try
        {
            foreach (var ns in engine.Namespaces.Where(n => n.Kind == NamespaceKind.Files))
                trees[ns.Name] = await FileTree.OpenAsync(ns, options, loggerFactory.CreateLogger($"CheckpointCache.Files.{ns.Name}"), coldTier, cancellationToken);
        }
        catch
        {
            foreach (var tree in trees.Values) await tree.DisposeAsync();
            throw;
        }
        return new FileTreeRegistry(trees, coldTier, prefetchParallelism);
    }

    /// <summary>The tree of a files store ("" is "files").</summary>
    public FileTree Get(string store)
    {
        var name = string.IsNullOrEmpty(store) ? DefaultStore : store;
        if (_trees.TryGetValue(name, out var tree)) return tree;
        throw new FilesException(FilesErrorCode.NotFound, $"store '{name}' is not a configured store of kind files (configured: {string.Join(", ", _trees.Keys)})");
    }

    public FileSession GetSession(ulong id)
    {
        foreach (var tree in _trees.Values)
        {
            try { return tree.GetSession((long)id); }
            catch (FilesException e) when (e.Code == FilesErrorCode.SessionNotFound) { }
        }
        throw new FilesException(FilesErrorCode.SessionNotFound, $"session {id:x} is not open on this node (closed, idle for Files:SessionIdleTimeout, or the node restarted)");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var tree in _trees.Values) await tree.DisposeAsync();
    }
}
