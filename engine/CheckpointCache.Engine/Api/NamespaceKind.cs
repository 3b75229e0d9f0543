namespace CheckpointCache.Engine;

/// <summary>What a namespace holds, which decides its defaults (KV blocks evict; file objects never do).</summary>
public enum NamespaceKind
{
    Kv,
    Files,
}
