using System.Text.Json;
using CheckpointCache.Client;

namespace CheckpointCache.Node.Tests.KeySpecs;

/// <summary>
/// Builds the cases of tests/keyspec/vectors-v1.json. The file is written once and then only read:
/// regenerate it with CHECKPOINTCACHE_WRITE_KEYSPEC_VECTORS=1 (see tests/keyspec/README.md) and
/// only together with a new key spec version.
/// </summary>
internal static class KeySpecVectorGenerator
{
    public static KeySpecVectorFile Build()
    {
        var llama = new KeySpecVectorDescriptor
        {
            Model = "meta-llama/Llama-3.1-8B-Instruct", Revision = "0e9e39f249a16976918f6564b8830bc894c89659",
            Dtype = "bfloat16", Layout = "vllm-paged-v1", TpRank = 0, TpSize = 1, TokensPerBlock = 16, Extra = "",
        };
        var llamaFp8 = Copy(llama, d => d.Dtype = "fp8_e4m3");
        var unicode = new KeySpecVectorDescriptor
        {
            Model = "Qwen/通义千问-7B-Chat·ñ-🦙", Revision = "main", Dtype = "float16", Layout = "sglang-mha",
            TpRank = 3, TpSize = 8, TokensPerBlock = 16, Extra = "rope_scaling=yarn;kv_heads=8",
        };
        var perToken = Copy(llama, d => { d.TokensPerBlock = 1; d.Layout = "sglang-mha"; });
        var big = Copy(llama, d => { d.TokensPerBlock = 256; d.TpRank = 1; d.TpSize = 2; });
        var empty = new KeySpecVectorDescriptor { TokensPerBlock = 16 };

        var prompt = Tokens(seed: 1, count: 40, extremes: true);   // 2 full blocks and 8 left over
        var extended = prompt.Concat(Tokens(seed: 2, count: 24, extremes: false)).ToList(); // shares the first 2 blocks

        var cases = new List<KeySpecVectorCase>
        {
            Case("two full blocks and a partial trailing block", llama, prompt),
            Case("longer prompt sharing the first two blocks of the previous case", llama, extended),
            Case("same tokens, other dtype: no key in common", llamaFp8, prompt),
            Case("unicode model name, tensor-parallel rank 3 of 8, extra", unicode, prompt),
            Case("one token per block, ids 0 and 2^32-1", perToken, [0, 1, 4294967295, 7, 0, 4294967295]),
            Case("256 tokens per block, 600 tokens", big, Tokens(seed: 3, count: 600, extremes: true)),
            Case("fewer tokens than one block", llama, Tokens(seed: 4, count: 15, extremes: false)),
            Case("empty token list", llama, []),
            Case("all strings empty", empty, Tokens(seed: 5, count: 32, extremes: true)),
        };
        return new KeySpecVectorFile
        {
            Version = 1,
            Spec = "docs/key-spec.md",
            Hash = "XXH3_128 seed 0, canonical (big-endian) hex",
            Cases = cases,
        };
    }

    public static void Write(string path)
        => File.WriteAllText(path, JsonSerializer.Serialize(Build(), KeySpecVectorFile.Json) + "\n");

    private static KeySpecVectorCase Case(string name, KeySpecVectorDescriptor descriptor, List<uint> tokens)
    {
        var proto = descriptor.ToProto();
        return new KeySpecVectorCase
        {
            Name = name,
            Descriptor = descriptor,
            DescriptorString = Client.KeySpec.DescriptorString(proto),
            NamespaceId = Convert.ToHexStringLower(Client.KeySpec.NamespaceId(proto)),
            Tokens = tokens,
            BlockKeys = Client.KeySpec.BlockKeys(proto, tokens.ToArray()).Select(Convert.ToHexStringLower).ToList(),
        };
    }

    /// <summary>Deterministic token ids; the file stores them, so no other client needs this generator.</summary>
    private static List<uint> Tokens(int seed, int count, bool extremes)
    {
        var random = new Random(seed);
        var tokens = Enumerable.Range(0, count).Select(_ => (uint)random.Next(0, 128_256)).ToList();
        if (extremes && count >= 4)
        {
            tokens[0] = 0;
            tokens[count / 3] = uint.MaxValue;
            tokens[count - 1] = uint.MaxValue;
        }
        return tokens;
    }

    private static KeySpecVectorDescriptor Copy(KeySpecVectorDescriptor d, Action<KeySpecVectorDescriptor> change)
    {
        var copy = new KeySpecVectorDescriptor
        {
            Model = d.Model, Revision = d.Revision, Dtype = d.Dtype, Layout = d.Layout,
            TpRank = d.TpRank, TpSize = d.TpSize, TokensPerBlock = d.TokensPerBlock, Extra = d.Extra,
        };
        change(copy);
        return copy;
    }
}
