namespace CheckpointCache.Engine.Files;

/// <summary>One stored block: the engine key is derived from these three.</summary>
internal readonly record struct BlockRef(long FileId, long Index, long Version)
{
    public byte[] Key() => BlockKey.Block(FileId, Index, Version);
}
