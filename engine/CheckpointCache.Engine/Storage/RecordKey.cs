using System.Buffers.Binary;

namespace CheckpointCache.Engine.Storage;

/// <summary>
/// Keys as the log stores them. A leading tag keeps root keys (user keys) and chunk keys apart;
/// chunk keys carry the value's generation, so an overwrite never mixes chunks of two versions.
/// </summary>
internal static class RecordKey
{
    public const byte RootTag = 0x01;
    public const byte ChunkTag = 0x02;
    public const int ChunkOverhead = 1 + 8 + 4;

    public static int RootLength(int userKeyLength) => 1 + userKeyLength;

    public static void WriteRoot(Span<byte> destination, ReadOnlySpan<byte> userKey)
    {
        destination[0] = RootTag;
        userKey.CopyTo(destination[1..]);
    }

    public static int ChunkLength(int userKeyLength) => ChunkOverhead + userKeyLength;

    public static void WriteChunk(Span<byte> destination, ReadOnlySpan<byte> userKey, long generation, int index)
    {
        destination[0] = ChunkTag;
        BinaryPrimitives.WriteInt64LittleEndian(destination[1..], generation);
        BinaryPrimitives.WriteInt32LittleEndian(destination[9..], index);
        userKey.CopyTo(destination[ChunkOverhead..]);
    }

    public static byte[] Root(ReadOnlySpan<byte> userKey)
    {
        var key = new byte[RootLength(userKey.Length)];
        WriteRoot(key, userKey);
        return key;
    }

    public static byte[] Chunk(ReadOnlySpan<byte> userKey, long generation, int index)
    {
        var key = new byte[ChunkLength(userKey.Length)];
        WriteChunk(key, userKey, generation, index);
        return key;
    }
}
