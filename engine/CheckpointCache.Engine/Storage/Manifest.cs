using System.Buffers.Binary;

namespace CheckpointCache.Engine.Storage;

/// <summary>
/// The root record of a chunked value, written after all its chunks. FirstChunkAddress is the log
/// tail before the first chunk was written: every chunk lies at or above it, so the value is whole
/// exactly while the log's begin address has not passed it.
/// </summary>
internal readonly record struct Manifest(long Length, int ChunkLength, int ChunkCount, long Generation, long FirstChunkAddress, long CreatedUnixMs)
{
    public const int Size = 8 + 4 + 4 + 8 + 8 + 8;

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteInt64LittleEndian(destination, Length);
        BinaryPrimitives.WriteInt32LittleEndian(destination[8..], ChunkLength);
        BinaryPrimitives.WriteInt32LittleEndian(destination[12..], ChunkCount);
        BinaryPrimitives.WriteInt64LittleEndian(destination[16..], Generation);
        BinaryPrimitives.WriteInt64LittleEndian(destination[24..], FirstChunkAddress);
        BinaryPrimitives.WriteInt64LittleEndian(destination[32..], CreatedUnixMs);
    }

    public static bool TryRead(ReadOnlySpan<byte> source, out Manifest manifest)
    {
        manifest = default;
        if (source.Length != Size) return false;
        manifest = new Manifest(
            BinaryPrimitives.ReadInt64LittleEndian(source),
            BinaryPrimitives.ReadInt32LittleEndian(source[8..]),
            BinaryPrimitives.ReadInt32LittleEndian(source[12..]),
            BinaryPrimitives.ReadInt64LittleEndian(source[16..]),
            BinaryPrimitives.ReadInt64LittleEndian(source[24..]),
            BinaryPrimitives.ReadInt64LittleEndian(source[32..]));
        return manifest.Length >= 0 && manifest.ChunkLength > 0 && manifest.ChunkCount >= 0
            && (long)manifest.ChunkLength * manifest.ChunkCount >= manifest.Length;
    }
}
