namespace CheckpointCache.Node.Options;

/// <summary>A KV namespace descriptor written in configuration, so it exists before any client declares it.</summary>
public sealed class DeclaredNamespaceOptions
{
    /// <summary>Configured engine store of kind kv; empty means "kv".</summary>
    public string Store { get; set; } = "";
    public string Model { get; set; } = "";
    public string Revision { get; set; } = "";
    public string Dtype { get; set; } = "";
    public string Layout { get; set; } = "";
    public uint TpRank { get; set; }
    public uint TpSize { get; set; } = 1;
    public uint TokensPerBlock { get; set; } = 16;
    public string Extra { get; set; } = "";

    public Rpc.Kv.V1.NamespaceDescriptor ToDescriptor() => new()
    {
        Model = Model, Revision = Revision, Dtype = Dtype, Layout = Layout,
        TpRank = TpRank, TpSize = TpSize, TokensPerBlock = TokensPerBlock, Extra = Extra,
    };
}
