namespace CheckpointCache.Engine.Files;

/// <summary>One file object's state: what Status(path) reports for a file, or for every file under a directory.</summary>
public sealed record ObjectStatus
{
    public required string Path { get; init; }
    public required long Id { get; init; }
    public required FileState State { get; init; }
    public required DurabilityLevel Durability { get; init; }
    public long CommittedSize { get; init; }
    public long Version { get; init; }
    /// <summary>Blocks that hold data (holes of sparse files are not stored).</summary>
    public int Blocks { get; init; }
    /// <summary>Blocks of the committed version that could not be found.</summary>
    public int MissingBlocks { get; init; }
    public int BlocksInRam { get; init; }
    public int BlocksOnSsd { get; init; }
    public int OpenSessions { get; init; }
    /// <summary>Bytes written by open sessions and not yet committed.</summary>
    public long StagedBytes { get; init; }
    /// <summary>The writeback queue will upload this version (it is selected and not yet in the cold tier).</summary>
    public bool PersistPending { get; init; }
    /// <summary>The local version last written back (0: none); Durability is Persisted when it is the current version under the current path.</summary>
    public long PersistedVersion { get; init; }
    /// <summary>Nodes known to hold the current version, this one included, as of its last commit or copy here (0: not replicated or unknown).</summary>
    public int Replicas { get; init; }
    /// <summary>Member that wrote the current version ("" before the store was replicated).</summary>
    public string Origin { get; init; } = "";
}
