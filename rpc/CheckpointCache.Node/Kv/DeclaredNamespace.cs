using CheckpointCache.Rpc.Kv.V1;

namespace CheckpointCache.Node;

/// <summary>A KV namespace declared inside a store: its id is the key-spec hash of its descriptor.</summary>
public sealed record DeclaredNamespace(string Store, byte[] Id, NamespaceDescriptor Descriptor, bool FromConfiguration)
{
    public string IdHex { get; } = Convert.ToHexStringLower(Id);

    /// <summary>How logs and metrics name it.</summary>
    public override string ToString() => $"{Store}/{IdHex}";
}
