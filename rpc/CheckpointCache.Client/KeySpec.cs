using System.Buffers.Binary;
using System.Globalization;
using System.IO.Hashing;
using System.Text;
using CheckpointCache.Rpc.Kv.V1;

namespace CheckpointCache.Client;

/// <summary>
/// The KV block key specification, version 1 (docs/key-spec.md): a namespace id hashed from the
/// descriptor and a prefix chain of block keys, so any two clients compute the same keys for the
/// same tokens. Test vectors: tests/keyspec/vectors-v1.json.
/// </summary>
public static class KeySpec
{
    public const uint Version = 1;
    public const string VersionLine = "checkpointcache/kv/v1";
    public const int KeyBytes = 16;

    /// <summary>The exact UTF-8 text that is hashed into the namespace id.</summary>
    public static string DescriptorString(NamespaceDescriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        Validate(descriptor);
        var inv = CultureInfo.InvariantCulture;
        return string.Join('\n',
            VersionLine,
            "model=" + descriptor.Model,
            "revision=" + descriptor.Revision,
            "dtype=" + descriptor.Dtype,
            "layout=" + descriptor.Layout,
            "tp=" + descriptor.TpRank.ToString(inv) + "/" + descriptor.TpSize.ToString(inv),
            "tokens_per_block=" + descriptor.TokensPerBlock.ToString(inv),
            "extra=" + descriptor.Extra);
    }

    /// <summary>namespace_id = XXH3_128(utf8(descriptor string)), canonical (big-endian) form.</summary>
    public static byte[] NamespaceId(NamespaceDescriptor descriptor)
        => XxHash128.Hash(Encoding.UTF8.GetBytes(DescriptorString(descriptor)));

    /// <summary>Throws <see cref="ArgumentException"/> naming the field that the spec does not allow.</summary>
    public static void Validate(NamespaceDescriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        // A newline would let two different descriptors produce the same string.
        CheckLine(descriptor.Model, "model");
        CheckLine(descriptor.Revision, "revision");
        CheckLine(descriptor.Dtype, "dtype");
        CheckLine(descriptor.Layout, "layout");
        CheckLine(descriptor.Extra, "extra");
        if (descriptor.TokensPerBlock == 0)
            throw new ArgumentException("tokens_per_block must be at least 1", nameof(descriptor));
    }

    /// <summary>Keys of every full block of <paramref name="tokens"/>; a trailing partial block gets none.</summary>
    public static byte[][] BlockKeys(NamespaceDescriptor descriptor, ReadOnlySpan<uint> tokens)
        => BlockKeys(NamespaceId(descriptor), (int)descriptor.TokensPerBlock, tokens);

    /// <inheritdoc cref="BlockKeys(NamespaceDescriptor, ReadOnlySpan{uint})"/>
    public static byte[][] BlockKeys(ReadOnlySpan<byte> namespaceId, int tokensPerBlock, ReadOnlySpan<uint> tokens)
    {
        if (namespaceId.Length != KeyBytes)
            throw new ArgumentException($"a namespace id is {KeyBytes} bytes, got {namespaceId.Length}", nameof(namespaceId));
        ArgumentOutOfRangeException.ThrowIfLessThan(tokensPerBlock, 1);

        int blocks = tokens.Length / tokensPerBlock;
        var keys = new byte[blocks][];
        // One buffer for "previous hash || block tokens", reused along the chain.
        var input = new byte[KeyBytes + 4 * tokensPerBlock];
        namespaceId.CopyTo(input);
        for (int b = 0; b < blocks; b++)
        {
            var block = tokens.Slice(b * tokensPerBlock, tokensPerBlock);
            for (int t = 0; t < block.Length; t++)
                BinaryPrimitives.WriteUInt32LittleEndian(input.AsSpan(KeyBytes + 4 * t), block[t]);
            var key = XxHash128.Hash(input);
            keys[b] = key;
            key.CopyTo(input, 0);
        }
        return keys;
    }

    /// <summary>Token ids as most tokenizers hand them out; negative ids are refused.</summary>
    public static byte[][] BlockKeys(NamespaceDescriptor descriptor, ReadOnlySpan<int> tokens)
    {
        var ids = new uint[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
        {
            if (tokens[i] < 0) throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {tokens[i]} at {i} is negative");
            ids[i] = (uint)tokens[i];
        }
        return BlockKeys(descriptor, ids);
    }

    private static void CheckLine(string value, string field)
    {
        if (value.Contains('\n'))
            throw new ArgumentException($"descriptor field '{field}' must not contain a newline", field);
    }
}
