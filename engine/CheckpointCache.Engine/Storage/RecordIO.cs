namespace CheckpointCache.Engine.Storage;

/// <summary>What a read asks of the record callbacks.</summary>
internal unsafe struct RecordInput
{
    /// <summary>Copy the payload here when it fits; null means rent a pooled buffer.</summary>
    public byte* Destination;
    public int Capacity;
    /// <summary>Parse and verify, but copy nothing.</summary>
    public bool HeaderOnly;
    /// <summary>A disk hit is copied to the log's tail (the RAM tier); ignored for header-only reads.</summary>
    public bool Promote;
}

/// <summary>How a read ended inside the callbacks.</summary>
internal enum ReadOutcome : byte
{
    None = 0,
    Ok,
    Corrupt,
    DestinationTooSmall,
}

/// <summary>What the record callbacks hand back for one read.</summary>
internal struct RecordOutput
{
    public ReadOutcome Outcome;
    public RecordType Type;
    public int PayloadLength;
    public int ChunkIndex;
    public long Generation;
    public long Address;
    public Manifest Manifest;
    public PooledBuffer? Owned;
}
