using CheckpointCache.Rpc.Kv.V1;
using Google.Protobuf;

namespace CheckpointCache.Client;

/// <summary>
/// A declared KV namespace inside a store. Built by <see cref="CacheClient.DeclareNamespaceAsync"/>
/// (then it knows its descriptor and can compute block keys) or from a known id.
/// </summary>
public sealed record KvNamespace(string Store, byte[] Id, NamespaceDescriptor? Descriptor = null)
{
    public string IdHex => Convert.ToHexStringLower(Id);

    public NamespaceRef ToRef() => new() { Store = Store, Id = ByteString.CopyFrom(Id) };

    /// <summary>Keys of the full blocks of <paramref name="tokens"/>, per docs/key-spec.md.</summary>
    public byte[][] BlockKeys(ReadOnlySpan<uint> tokens)
    {
        if (Descriptor is null)
            throw new InvalidOperationException("this namespace was made from an id alone; declare it with its descriptor to compute block keys");
        return KeySpec.BlockKeys(Id, (int)Descriptor.TokensPerBlock, tokens);
    }

    public override string ToString() => $"{Store}/{IdHex}";
}
