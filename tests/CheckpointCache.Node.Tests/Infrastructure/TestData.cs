using System.Text;
using CheckpointCache.Client;
using CheckpointCache.Rpc.Kv.V1;

namespace CheckpointCache.Node.Tests.Infrastructure;

public static class TestData
{
    /// <summary>Deterministic bytes, different for every seed, so a value mixed up with another is caught.</summary>
    public static byte[] Value(int seed, int length)
    {
        var bytes = GC.AllocateUninitializedArray<byte>(length);
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static byte[] Key(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>A descriptor no other test uses, so tests sharing a node do not see each other's blocks.</summary>
    public static NamespaceDescriptor Descriptor(string test, uint tokensPerBlock = 16) => new()
    {
        Model = "test/" + test + "/" + Guid.NewGuid().ToString("N")[..8],
        Revision = "r1",
        Dtype = "bfloat16",
        Layout = "vllm-paged-v1",
        TpRank = 0,
        TpSize = 1,
        TokensPerBlock = tokensPerBlock,
    };

    public static Task<KvNamespace> DeclareAsync(CacheClient client, string test, uint tokensPerBlock = 16)
        => client.DeclareNamespaceAsync(Descriptor(test, tokensPerBlock));
}
