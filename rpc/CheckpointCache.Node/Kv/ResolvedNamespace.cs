using CheckpointCache.Engine;

namespace CheckpointCache.Node;

/// <summary>A request's namespace: the engine store that holds it and the declared namespace inside it.</summary>
public sealed record ResolvedNamespace(ICacheNamespace Store, DeclaredNamespace Declared)
{
    public byte[] EngineKey(ReadOnlySpan<byte> key) => NamespaceKey.Compose(Declared.Id, key);
}
