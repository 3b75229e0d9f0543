using CheckpointCache.Engine.Files;

namespace CheckpointCache.Cluster.Replication;

/// <summary>Stamps between the engine and peer.proto.</summary>
internal static class FileStampConversion
{
    public static Rpc.Peer.V1.VersionStamp ToProto(this FileStamp stamp) => new() { Clock = stamp.Clock, Origin = stamp.Origin ?? "" };

    public static FileStamp ToEngine(this Rpc.Peer.V1.VersionStamp? stamp) => stamp is null ? FileStamp.None : new FileStamp(stamp.Clock, stamp.Origin);

    public static ReplicaEntry ToEngine(this Rpc.Peer.V1.FileEntry e) => new(e.Path, e.Stamp.ToEngine(), (long)e.Size, e.Tombstone, e.Directory);

    public static Rpc.Peer.V1.FileEntry ToProto(this ReplicaEntry e) => new() { Path = e.Path, Stamp = e.Stamp.ToProto(), Size = (ulong)e.Size, Tombstone = e.Tombstone, Directory = e.IsDirectory };
}
