using System.Buffers.Binary;
using System.IO.Hashing;

namespace CheckpointCache.Engine.Storage;

/// <summary>
/// The 32 bytes in front of every payload in the log. The checksum covers the record's key, this
/// header and the payload, so a flipped bit, a torn page or a record read from the wrong place
/// all fail verification and read as a miss.
/// </summary>
internal static class RecordHeader
{
    public const int Size = 32;
    public const uint Magic = 0x31524343; // "CCR1"

    // Layout: magic u32 | type u8 | pad u8 | pad u16 | payloadLength u32 | chunkIndex u32 | generation u64 | checksum u64
    public static void Write(Span<byte> header, RecordType type, int payloadLength, int chunkIndex, long generation)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        header[4] = (byte)type;
        header[5] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], 0);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], payloadLength);
        BinaryPrimitives.WriteInt32LittleEndian(header[12..], chunkIndex);
        BinaryPrimitives.WriteInt64LittleEndian(header[16..], generation);
        BinaryPrimitives.WriteUInt64LittleEndian(header[24..], 0);
    }

    public static void Seal(ReadOnlySpan<byte> key, Span<byte> record)
        => BinaryPrimitives.WriteUInt64LittleEndian(record[24..], Checksum(key, record));

    public static ulong Checksum(ReadOnlySpan<byte> key, ReadOnlySpan<byte> record)
    {
        var hash = new XxHash3();
        hash.Append(key);
        hash.Append(record[..24]);
        hash.Append(record[Size..]);
        return hash.GetCurrentHashAsUInt64();
    }

    /// <summary>Checks framing and checksum; false means the record must be treated as corrupt.</summary>
    public static bool TryParse(ReadOnlySpan<byte> key, ReadOnlySpan<byte> record, bool verifyChecksum, out RecordType type, out int payloadLength, out int chunkIndex, out long generation)
    {
        type = default; payloadLength = 0; chunkIndex = 0; generation = 0;
        if (record.Length < Size || BinaryPrimitives.ReadUInt32LittleEndian(record) != Magic) return false;
        type = (RecordType)record[4];
        if (type is not (RecordType.Inline or RecordType.Manifest or RecordType.Chunk)) return false;
        payloadLength = BinaryPrimitives.ReadInt32LittleEndian(record[8..]);
        if (payloadLength != record.Length - Size) return false;
        chunkIndex = BinaryPrimitives.ReadInt32LittleEndian(record[12..]);
        generation = BinaryPrimitives.ReadInt64LittleEndian(record[16..]);
        if (!verifyChecksum) return true;
        return BinaryPrimitives.ReadUInt64LittleEndian(record[24..]) == Checksum(key, record);
    }
}
