using CheckpointCache.Engine;
using CheckpointCache.Rpc.Kv.V1;

namespace CheckpointCache.Node;

/// <summary>Finds the store and declared namespace a request names, or fails the call with a status naming what is wrong.</summary>
public sealed class NamespaceResolver(ICacheEngine engine, NamespaceRegistry registry)
{
    public const string DefaultStore = "kv";

    public static string StoreName(string store) => string.IsNullOrEmpty(store) ? DefaultStore : store;

    /// <summary>The configured engine namespace of kind kv that <paramref name="store"/> names.</summary>
    public ICacheNamespace Store(string store)
    {
        var name = StoreName(store);
        if (!engine.TryGetNamespace(name, out var ns) || ns is null)
            throw RpcErrors.NotFound($"store '{name}' is not configured (configured: {string.Join(", ", engine.Namespaces.Select(n => n.Name))})");
        if (ns.Kind != NamespaceKind.Kv)
            throw RpcErrors.InvalidArgument($"store '{name}' is of kind {ns.Kind.ToString().ToLowerInvariant()}, not kv");
        return ns;
    }

    public ResolvedNamespace Resolve(NamespaceRef? reference)
    {
        if (reference is null)
            throw RpcErrors.InvalidArgument("namespace is missing: declare one with DeclareNamespace and send its NamespaceRef");
        var store = Store(reference.Store);
        if (reference.Id.Length != NamespaceKey.PrefixBytes)
            throw RpcErrors.InvalidArgument($"namespace id must be {NamespaceKey.PrefixBytes} bytes, got {reference.Id.Length}");
        var storeName = StoreName(reference.Store);
        if (!registry.TryGet(storeName, reference.Id.Span, out var declared) || declared is null)
            throw RpcErrors.NotFound($"namespace {Convert.ToHexStringLower(reference.Id.Span)} is not declared in store '{storeName}': call DeclareNamespace first");
        return new ResolvedNamespace(store, declared);
    }
}
