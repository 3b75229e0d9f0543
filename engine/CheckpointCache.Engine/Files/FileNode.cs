namespace CheckpointCache.Engine.Files;

/// <summary>
/// A file: its committed size and, per block index, the version of the block that holds its
/// bytes (0: a hole, which reads as zeros because the file was extended past it, never because
/// data was lost). Block versions replaced by a commit are garbage once no session uses the file.
/// </summary>
internal sealed class FileNode(long id, string name, int mode, long modifiedUnixMs) : TreeNode(id, name, mode, modifiedUnixMs)
{
    public override EntryKind Kind => EntryKind.File;
    public long Size { get; set; }
    public long Version { get; set; }
    public long[] Blocks { get; set; } = [];
    /// <summary>Sessions open on this file; garbage is deleted when it drops to zero.</summary>
    public int OpenSessions { get; set; }
    public int OpenWriters { get; set; }
    /// <summary>The size the most recently written session would publish (stat shows it while writers are open).</summary>
    public long LiveSize { get => Volatile.Read(ref _liveSize); set => Volatile.Write(ref _liveSize, value); }
    private long _liveSize;
    public List<(long Index, long Version)> Garbage { get; } = [];
    /// <summary>The version last written back to the cold tier (0: none), and the path it was written under.</summary>
    public long PersistedVersion { get; set; }
    public string? PersistedPath { get; set; }
    /// <summary>Orders this version against copies on other nodes (None for versions written before stamps existed).</summary>
    public FileStamp Stamp { get; set; } = FileStamp.None;
    /// <summary>Nodes known to hold the current version, this one included (0: not replicated or unknown); not persisted.</summary>
    public int Replicas { get; set; }

    public int BlockCount(int blockBytes) => (int)((Size + blockBytes - 1) / blockBytes);
}
