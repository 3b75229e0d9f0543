namespace CheckpointCache.Node;

/// <summary>
/// Engine keys are the 16-byte namespace id followed by the client's key, so declared namespaces
/// sharing one store can never see each other's blocks.
/// </summary>
public static class NamespaceKey
{
    public const int PrefixBytes = Client.KeySpec.KeyBytes;

    public static byte[] Compose(ReadOnlySpan<byte> namespaceId, ReadOnlySpan<byte> key)
    {
        var composed = new byte[PrefixBytes + key.Length];
        namespaceId.CopyTo(composed);
        key.CopyTo(composed.AsSpan(PrefixBytes));
        return composed;
    }
}
