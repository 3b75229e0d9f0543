namespace CheckpointCache.Engine.Files;

/// <summary>
/// An inode of the in-memory tree. Entries map names to nodes, and nodes are known by id, so a
/// rename moves one entry (atomic, whatever the size of the subtree) and open files keep their
/// identity across renames.
/// </summary>
internal abstract class TreeNode(long id, string name, int mode, long modifiedUnixMs)
{
    public long Id { get; } = id;
    public string Name { get; set; } = name;
    public DirectoryNode? Parent { get; set; }
    public int Mode { get; set; } = mode;
    public long ModifiedUnixMs { get; set; } = modifiedUnixMs;
    /// <summary>False once removed from the tree (deleted or replaced); open sessions may still hold it.</summary>
    public bool Attached { get; set; } = true;
    public abstract EntryKind Kind { get; }

    public string PathOf()
    {
        var names = new List<string>();
        for (TreeNode? n = this; n?.Parent is not null; n = n.Parent) names.Add(n.Name);
        names.Reverse();
        return FilePath.Join(names);
    }
}
