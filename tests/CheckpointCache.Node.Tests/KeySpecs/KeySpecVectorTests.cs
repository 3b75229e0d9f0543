using CheckpointCache.Rpc.Kv.V1;

namespace CheckpointCache.Node.Tests.KeySpecs;

/// <summary>The .NET client must reproduce every vector of the shared file, which the Python client's tests read too.</summary>
public sealed class KeySpecVectorTests
{
    [Fact]
    public void EveryVectorIsReproduced()
    {
        if (Environment.GetEnvironmentVariable("CHECKPOINTCACHE_WRITE_KEYSPEC_VECTORS") == "1")
            KeySpecVectorGenerator.Write(KeySpecVectorFile.PathInRepo);

        var file = KeySpecVectorFile.Load();
        Assert.Equal(1, file.Version);
        Assert.NotEmpty(file.Cases);
        foreach (var c in file.Cases)
        {
            var descriptor = c.Descriptor.ToProto();
            Assert.Equal(c.DescriptorString, Client.KeySpec.DescriptorString(descriptor));
            Assert.Equal(c.NamespaceId, Convert.ToHexStringLower(Client.KeySpec.NamespaceId(descriptor)));
            var keys = Client.KeySpec.BlockKeys(descriptor, c.Tokens.ToArray()).Select(Convert.ToHexStringLower).ToList();
            Assert.Equal(c.BlockKeys, keys);
            Assert.Equal(c.Tokens.Count / (int)c.Descriptor.TokensPerBlock, keys.Count);
        }
    }

    [Fact]
    public void TheFileCoversTheEdgesTheSpecNames()
    {
        var cases = KeySpecVectorFile.Load().Cases;
        Assert.Contains(cases, c => c.Tokens.Count == 0);
        Assert.Contains(cases, c => c.Tokens.Contains(0u) && c.Tokens.Contains(uint.MaxValue));
        Assert.Contains(cases, c => c.Tokens.Count % c.Descriptor.TokensPerBlock != 0 && c.BlockKeys.Count > 0);
        foreach (var tpb in new uint[] { 1, 16, 256 })
            Assert.Contains(cases, c => c.Descriptor.TokensPerBlock == tpb);
        Assert.Contains(cases, c => c.Descriptor.Model.Any(ch => ch > 127));
    }

    [Fact]
    public void PrefixesShareKeysAndNamespacesDoNot()
    {
        var d = new NamespaceDescriptor { Model = "m", TokensPerBlock = 2 };
        var shortKeys = Client.KeySpec.BlockKeys(d, new uint[] { 1, 2, 3, 4 });
        var longKeys = Client.KeySpec.BlockKeys(d, new uint[] { 1, 2, 3, 4, 5, 6 });
        Assert.Equal(shortKeys, longKeys.Take(2));
        var other = Client.KeySpec.BlockKeys(new NamespaceDescriptor { Model = "m", TokensPerBlock = 2, TpRank = 1 }, new uint[] { 1, 2 });
        Assert.NotEqual(shortKeys[0], other[0]);
    }

    [Fact]
    public void DescriptorsTheSpecForbidsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => Client.KeySpec.NamespaceId(new NamespaceDescriptor { Model = "a\nb", TokensPerBlock = 16 }));
        Assert.Throws<ArgumentException>(() => Client.KeySpec.NamespaceId(new NamespaceDescriptor { Model = "a", TokensPerBlock = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Client.KeySpec.BlockKeys(new NamespaceDescriptor { TokensPerBlock = 1 }, new[] { -1 }));
    }
}
