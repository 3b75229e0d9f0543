using System.Text;

namespace CheckpointCache.Engine.Files;

/// <summary>
/// The whole tree as bytes: every node, parents before children, with each file's block versions and what of it
/// was persisted to the cold tier and its version stamp, then the remote deletes still to do, then the tombstones of
/// deletes (format 3; format 2 had no stamps nor tombstones, format 1 nothing of the cold tier either).
/// </summary>
internal static class TreeSnapshot
{
    private const int FormatVersion = 3;

    public sealed record Image(IReadOnlyList<TreeNode> Nodes, long NextId, IReadOnlyList<string> RemoteDeletes, IReadOnlyList<Tombstone> Tombstones);

    public static byte[] Capture(DirectoryNode root, long nextId, IEnumerable<string> remoteDeletes, IEnumerable<Tombstone> tombstones)
    {
        using var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(FormatVersion);
            w.Write(nextId);
            var queue = new Queue<TreeNode>();
            queue.Enqueue(root);
            while (queue.Count > 0)
            {
                var node = queue.Dequeue();
                w.Write((byte)node.Kind);
                w.Write(node.Id);
                w.Write(node.Parent?.Id ?? 0);
                w.Write(node.Name);
                w.Write(node.Mode);
                w.Write(node.ModifiedUnixMs);
                if (node is FileNode f)
                {
                    w.Write(f.Size);
                    w.Write(f.Version);
                    w.Write(f.Blocks.Length);
                    foreach (var b in f.Blocks) w.Write(b);
                    w.Write(f.PersistedVersion);
                    w.Write(f.PersistedPath ?? "");
                    w.Write(f.Stamp.Clock);
                    w.Write(f.Stamp.Origin ?? "");
                }
                else if (node is DirectoryNode d)
                {
                    foreach (var child in d.Children.Values) queue.Enqueue(child);
                }
            }
            w.Write((byte)0);
            var deletes = remoteDeletes.ToList();
            w.Write(deletes.Count);
            foreach (var path in deletes) w.Write(path);
            var kept = tombstones.ToList();
            w.Write(kept.Count);
            foreach (var t in kept)
            {
                w.Write(t.Path);
                w.Write(t.Stamp.Clock);
                w.Write(t.Stamp.Origin ?? "");
                w.Write(t.AtUnixMs);
            }
        }
        return stream.ToArray();
    }

    public static Image Restore(byte[] bytes)
    {
        using var r = new BinaryReader(new MemoryStream(bytes), Encoding.UTF8);
        int format = r.ReadInt32();
        if (format is not (1 or 2 or FormatVersion)) throw new InvalidDataException($"tree snapshot format {format} is unknown");
        long nextId = r.ReadInt64();
        var nodes = new Dictionary<long, TreeNode>();
        var order = new List<TreeNode>();
        for (byte kind; (kind = r.ReadByte()) != 0;)
        {
            long id = r.ReadInt64();
            long parentId = r.ReadInt64();
            string name = r.ReadString();
            int mode = r.ReadInt32();
            long modified = r.ReadInt64();
            TreeNode node;
            if ((EntryKind)kind == EntryKind.File)
            {
                var f = new FileNode(id, name, mode, modified) { Size = r.ReadInt64(), Version = r.ReadInt64() };
                var blocks = new long[r.ReadInt32()];
                for (int i = 0; i < blocks.Length; i++) blocks[i] = r.ReadInt64();
                f.Blocks = blocks;
                f.LiveSize = f.Size;
                if (format >= 2)
                {
                    f.PersistedVersion = r.ReadInt64();
                    var persistedPath = r.ReadString();
                    f.PersistedPath = persistedPath.Length == 0 ? null : persistedPath;
                }
                if (format >= 3) f.Stamp = new FileStamp(r.ReadInt64(), r.ReadString());
                node = f;
            }
            else
            {
                node = new DirectoryNode(id, name, mode, modified);
            }
            if (parentId != 0)
            {
                var parent = (DirectoryNode)nodes[parentId];
                node.Parent = parent;
                parent.Children[name] = node;
            }
            nodes[id] = node;
            order.Add(node);
        }
        if (order.Count == 0 || order[0].Id != DirectoryNode.RootId) throw new InvalidDataException("tree snapshot has no root");
        var remoteDeletes = new List<string>();
        if (format >= 2)
            for (int n = r.ReadInt32(); n > 0; n--) remoteDeletes.Add(r.ReadString());
        var tombstones = new List<Tombstone>();
        if (format >= 3)
            for (int n = r.ReadInt32(); n > 0; n--) tombstones.Add(new Tombstone(r.ReadString(), new FileStamp(r.ReadInt64(), r.ReadString()), r.ReadInt64()));
        return new Image(order, nextId, remoteDeletes, tombstones);
    }
}
