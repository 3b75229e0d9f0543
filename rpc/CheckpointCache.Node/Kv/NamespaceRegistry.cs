using System.Collections.Concurrent;
using System.Text;
using CheckpointCache.Client;
using CheckpointCache.Rpc.Kv.V1;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Node;

/// <summary>
/// The KV namespaces declared on this node, by configuration or by clients. Lookups are lock-free;
/// declarations are rare and serialised so the file always matches memory.
/// </summary>
public sealed class NamespaceRegistry
{
    private readonly ConcurrentDictionary<string, DeclaredNamespace> _byName = new(StringComparer.Ordinal);
    private readonly NamespaceFile _file;
    private readonly int _maxNamespaces;
    private readonly ILogger _logger;
    private readonly Lock _declareLock = new();

    public NamespaceRegistry(string filePath, int maxNamespaces, ILogger<NamespaceRegistry> logger)
    {
        _file = new NamespaceFile(filePath);
        _maxNamespaces = maxNamespaces;
        _logger = logger;
    }

    public int Count => _byName.Count;
    public IEnumerable<DeclaredNamespace> All => _byName.Values;

    /// <summary>Loads what clients declared in earlier runs, then adds the configured descriptors.</summary>
    public void Load(IEnumerable<(string Store, NamespaceDescriptor Descriptor)> configured)
    {
        foreach (var (store, descriptor) in _file.Read())
            _byName.TryAdd(Name(store, KeySpec.NamespaceId(descriptor)), new DeclaredNamespace(store, KeySpec.NamespaceId(descriptor), descriptor, false));
        bool changed = false;
        foreach (var (store, descriptor) in configured)
        {
            var id = KeySpec.NamespaceId(descriptor);
            _byName[Name(store, id)] = new DeclaredNamespace(store, id, descriptor, true);
            changed = true;
        }
        if (_byName.Count > _maxNamespaces)
            _logger.LogWarning("{Count} namespaces are declared, more than Limits:MaxNamespaces ({Max}); new declarations will be refused", _byName.Count, _maxNamespaces);
        if (changed) _file.Write(_byName.Values);
        _logger.LogInformation("{Count} KV namespaces declared ({File})", _byName.Count, _file.Path);
    }

    public bool TryGet(string store, ReadOnlySpan<byte> id, out DeclaredNamespace? declared)
        => _byName.TryGetValue(Name(store, id), out declared);

    public DeclareOutcome Declare(string store, NamespaceDescriptor descriptor, out DeclaredNamespace declared)
    {
        var id = KeySpec.NamespaceId(descriptor);
        var name = Name(store, id);
        if (_byName.TryGetValue(name, out var existing))
        {
            declared = existing;
            return DeclareOutcome.AlreadyDeclared;
        }
        lock (_declareLock)
        {
            if (_byName.TryGetValue(name, out existing))
            {
                declared = existing;
                return DeclareOutcome.AlreadyDeclared;
            }
            declared = new DeclaredNamespace(store, id, descriptor.Clone(), false);
            if (_byName.Count >= _maxNamespaces) return DeclareOutcome.LimitReached;
            _byName[name] = declared;
            _file.Write(_byName.Values);
        }
        _logger.LogInformation("Declared KV namespace {Namespace}: model {Model}, dtype {Dtype}, layout {Layout}, tp {TpRank}/{TpSize}, {TokensPerBlock} tokens per block",
            declared, descriptor.Model, descriptor.Dtype, descriptor.Layout, descriptor.TpRank, descriptor.TpSize, descriptor.TokensPerBlock);
        return DeclareOutcome.Created;
    }

    /// <summary>Bytes of the descriptor string that the namespace id is hashed from.</summary>
    public static int DescriptorBytes(NamespaceDescriptor descriptor) => Encoding.UTF8.GetByteCount(KeySpec.DescriptorString(descriptor));

    private static string Name(string store, ReadOnlySpan<byte> id) => store + "/" + Convert.ToHexStringLower(id);
}
