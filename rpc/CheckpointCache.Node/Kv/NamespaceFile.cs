using System.Text.Json;
using System.Text.Json.Serialization;
using CheckpointCache.Rpc.Kv.V1;

namespace CheckpointCache.Node;

/// <summary>
/// The declared namespaces, kept as a small JSON file in the data directory so they survive a restart.
/// Writes go to a temporary file that is flushed and renamed over the old one, so a crash leaves the
/// old list or the new one, never half of either.
/// </summary>
internal sealed class NamespaceFile(string path)
{
    public string Path { get; } = path;

    public IReadOnlyList<(string Store, NamespaceDescriptor Descriptor)> Read()
    {
        if (!File.Exists(Path)) return [];
        var stored = JsonSerializer.Deserialize<StoredFile>(File.ReadAllText(Path), Json)
            ?? throw new InvalidDataException($"{Path} is empty");
        if (stored.Version != 1) throw new InvalidDataException($"{Path} has version {stored.Version}; this node reads version 1");
        return stored.Namespaces.Select(n => (n.Store, n.Descriptor.ToProto())).ToList();
    }

    public void Write(IEnumerable<DeclaredNamespace> namespaces)
    {
        var stored = new StoredFile
        {
            Version = 1,
            Namespaces = namespaces.Select(n => new StoredNamespace { Store = n.Store, Id = n.IdHex, Descriptor = StoredDescriptor.From(n.Descriptor) }).ToList(),
        };
        var temporary = Path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(stream, stored, Json);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, Path, overwrite: true);
    }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    private sealed class StoredFile
    {
        [JsonPropertyName("version")] public int Version { get; set; }
        [JsonPropertyName("namespaces")] public List<StoredNamespace> Namespaces { get; set; } = [];
    }

    private sealed class StoredNamespace
    {
        [JsonPropertyName("store")] public string Store { get; set; } = "";
        // Written for people reading the file; the node recomputes it from the descriptor.
        [JsonPropertyName("id")] public string Id { get; set; } = "";
        [JsonPropertyName("descriptor")] public StoredDescriptor Descriptor { get; set; } = new();
    }

    private sealed class StoredDescriptor
    {
        [JsonPropertyName("model")] public string Model { get; set; } = "";
        [JsonPropertyName("revision")] public string Revision { get; set; } = "";
        [JsonPropertyName("dtype")] public string Dtype { get; set; } = "";
        [JsonPropertyName("layout")] public string Layout { get; set; } = "";
        [JsonPropertyName("tp_rank")] public uint TpRank { get; set; }
        [JsonPropertyName("tp_size")] public uint TpSize { get; set; }
        [JsonPropertyName("tokens_per_block")] public uint TokensPerBlock { get; set; }
        [JsonPropertyName("extra")] public string Extra { get; set; } = "";

        public static StoredDescriptor From(NamespaceDescriptor d) => new()
        {
            Model = d.Model, Revision = d.Revision, Dtype = d.Dtype, Layout = d.Layout,
            TpRank = d.TpRank, TpSize = d.TpSize, TokensPerBlock = d.TokensPerBlock, Extra = d.Extra,
        };

        public NamespaceDescriptor ToProto() => new()
        {
            Model = Model, Revision = Revision, Dtype = Dtype, Layout = Layout,
            TpRank = TpRank, TpSize = TpSize, TokensPerBlock = TokensPerBlock, Extra = Extra,
        };
    }
}
