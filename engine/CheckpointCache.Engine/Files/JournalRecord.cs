using System.Text;

namespace CheckpointCache.Engine.Files;

/// <summary>
/// A metadata change as the journal stores it. Replaying the records in sequence on the last
/// snapshot rebuilds exactly the tree that was committed: records carry the ids they assigned,
/// and a CommitFile carries the file's new size and every block whose version changed.
/// </summary>
internal sealed record JournalRecord(JournalOp Op)
{
    // Format 2 appends the version stamp; format 1 records (written before replication) read with none.
    private const byte FormatVersion = 2;

    public long ParentId { get; init; }
    public string Name { get; init; } = "";
    public long Id { get; init; }
    public int Mode { get; init; }
    public long ModifiedUnixMs { get; init; }
    public long TargetParentId { get; init; }
    public string TargetName { get; init; } = "";
    public long Version { get; init; }
    public long Size { get; init; }
    public bool SetsMode { get; init; }
    public bool SetsModified { get; init; }
    public IReadOnlyList<(long Index, long Version)> Changes { get; init; } = [];
    /// <summary>CommitFile: the new version's stamp; Rename: the moved files' new stamp; Delete and Tombstone: the tombstone's.</summary>
    public FileStamp Stamp { get; init; } = FileStamp.None;

    public byte[] Serialize()
    {
        using var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(FormatVersion);
            w.Write((byte)Op);
            w.Write(ParentId);
            w.Write(Name);
            w.Write(Id);
            w.Write(Mode);
            w.Write(ModifiedUnixMs);
            w.Write(TargetParentId);
            w.Write(TargetName);
            w.Write(Version);
            w.Write(Size);
            w.Write(SetsMode);
            w.Write(SetsModified);
            w.Write(Changes.Count);
            foreach (var (index, version) in Changes)
            {
                w.Write(index);
                w.Write(version);
            }
            w.Write(Stamp.Clock);
            w.Write(Stamp.Origin ?? "");
        }
        return stream.ToArray();
    }

    public static JournalRecord Deserialize(ReadOnlySpan<byte> bytes)
    {
        using var stream = new MemoryStream(bytes.ToArray());
        using var r = new BinaryReader(stream, Encoding.UTF8);
        var format = r.ReadByte();
        if (format is not (1 or FormatVersion)) throw new InvalidDataException($"journal record format {format} is unknown");
        var op = (JournalOp)r.ReadByte();
        var record = new JournalRecord(op)
        {
            ParentId = r.ReadInt64(),
            Name = r.ReadString(),
            Id = r.ReadInt64(),
            Mode = r.ReadInt32(),
            ModifiedUnixMs = r.ReadInt64(),
            TargetParentId = r.ReadInt64(),
            TargetName = r.ReadString(),
            Version = r.ReadInt64(),
            Size = r.ReadInt64(),
            SetsMode = r.ReadBoolean(),
            SetsModified = r.ReadBoolean(),
        };
        int count = r.ReadInt32();
        var changes = new (long, long)[count];
        for (int i = 0; i < count; i++) changes[i] = (r.ReadInt64(), r.ReadInt64());
        var stamp = format >= 2 ? new FileStamp(r.ReadInt64(), r.ReadString()) : FileStamp.None;
        return record with { Changes = changes, Stamp = stamp };
    }
}
