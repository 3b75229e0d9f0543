using System.Buffers.Binary;

namespace CheckpointCache.Engine.Files;

/// <summary>
/// Engine keys of the files layer. Blocks are keyed by file id, block index and a version that is
/// new for every staging round, so a staged block never overwrites a committed one; metadata lives
/// under its own tags in the same namespace.
/// </summary>
internal static class BlockKey
{
    public const byte BlockTag = (byte)'B';
    public const byte JournalTag = (byte)'J';
    public const byte SnapshotTag = (byte)'S';
    public static readonly byte[] SnapshotPointer = "Pfiles-snapshot"u8.ToArray();

    public static byte[] Block(long fileId, long index, long version)
    {
        var key = new byte[25];
        key[0] = BlockTag;
        BinaryPrimitives.WriteInt64BigEndian(key.AsSpan(1), fileId);
        BinaryPrimitives.WriteInt64BigEndian(key.AsSpan(9), index);
        BinaryPrimitives.WriteInt64BigEndian(key.AsSpan(17), version);
        return key;
    }

    public static byte[] Journal(long sequence)
    {
        var key = new byte[9];
        key[0] = JournalTag;
        BinaryPrimitives.WriteInt64BigEndian(key.AsSpan(1), sequence);
        return key;
    }

    public static byte[] SnapshotPart(long snapshotId, int part)
    {
        var key = new byte[13];
        key[0] = SnapshotTag;
        BinaryPrimitives.WriteInt64BigEndian(key.AsSpan(1), snapshotId);
        BinaryPrimitives.WriteInt32BigEndian(key.AsSpan(9), part);
        return key;
    }

    /// <summary>A fresh staging version: random, so versions of a previous run can never be reused.</summary>
    public static long NewVersion() => Random.Shared.NextInt64(1, long.MaxValue);
}
