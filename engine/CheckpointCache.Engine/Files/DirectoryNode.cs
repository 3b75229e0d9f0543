namespace CheckpointCache.Engine.Files;

internal sealed class DirectoryNode(long id, string name, int mode, long modifiedUnixMs) : TreeNode(id, name, mode, modifiedUnixMs)
{
    public const long RootId = 1;
    public override EntryKind Kind => EntryKind.Directory;
    /// <summary>Sorted by ordinal name, so paged listings are stable.</summary>
    public SortedDictionary<string, TreeNode> Children { get; } = new(StringComparer.Ordinal);
}
