namespace CheckpointCache.CloudTier.Options;

/// <summary>One files store's cloud settings (Cloud:Stores:NAME); unset ones fall back to Cloud:Mode and Cloud:Persist.</summary>
public sealed class CloudStoreOptions
{
    public CloudMode? Mode { get; set; }
    public PersistOptions? Persist { get; set; }
}
