using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CheckpointCache.Node.Tests.KeySpecs;

/// <summary>The schema of tests/keyspec/vectors-v1.json, shared with every other client's tests.</summary>
internal sealed class KeySpecVectorFile
{
    [JsonPropertyName("version")] public int Version { get; set; }
    [JsonPropertyName("spec")] public string Spec { get; set; } = "";
    [JsonPropertyName("hash")] public string Hash { get; set; } = "";
    [JsonPropertyName("cases")] public List<KeySpecVectorCase> Cases { get; set; } = [];

    public static string PathInRepo => RepoPaths.Of("tests", "keyspec", "vectors-v1.json");

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        // Keep unicode model names readable in the file; any JSON reader accepts raw UTF-8.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static KeySpecVectorFile Load()
        => JsonSerializer.Deserialize<KeySpecVectorFile>(File.ReadAllText(PathInRepo), Json)
           ?? throw new InvalidDataException(PathInRepo + " is empty");
}

internal sealed class KeySpecVectorCase
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("descriptor")] public KeySpecVectorDescriptor Descriptor { get; set; } = new();
    [JsonPropertyName("descriptor_string")] public string DescriptorString { get; set; } = "";
    [JsonPropertyName("namespace_id")] public string NamespaceId { get; set; } = "";
    [JsonPropertyName("tokens")] public List<uint> Tokens { get; set; } = [];
    [JsonPropertyName("block_keys")] public List<string> BlockKeys { get; set; } = [];
}

internal sealed class KeySpecVectorDescriptor
{
    [JsonPropertyName("model")] public string Model { get; set; } = "";
    [JsonPropertyName("revision")] public string Revision { get; set; } = "";
    [JsonPropertyName("dtype")] public string Dtype { get; set; } = "";
    [JsonPropertyName("layout")] public string Layout { get; set; } = "";
    [JsonPropertyName("tp_rank")] public uint TpRank { get; set; }
    [JsonPropertyName("tp_size")] public uint TpSize { get; set; }
    [JsonPropertyName("tokens_per_block")] public uint TokensPerBlock { get; set; }
    [JsonPropertyName("extra")] public string Extra { get; set; } = "";

    public Rpc.Kv.V1.NamespaceDescriptor ToProto() => new()
    {
        Model = Model, Revision = Revision, Dtype = Dtype, Layout = Layout,
        TpRank = TpRank, TpSize = TpSize, TokensPerBlock = TokensPerBlock, Extra = Extra,
    };
}
