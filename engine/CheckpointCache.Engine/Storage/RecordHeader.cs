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
        var hash = StartChecksum(key, record);
        hash.Append(record[Size..]);
        return hash.GetCurrentHashAsUInt64();
    }

    /// <summary>The checksum's hash over the key and the header's fields before the checksum; the payload follows.</summary>
    private static XxHash3 StartChecksum(ReadOnlySpan<byte> key, ReadOnlySpan<byte> record)
    {
        var hash = new XxHash3();
        hash.Append(key);
        hash.Append(record[..24]);
        return hash;
    }

    /// <summary>Bytes hashed and then copied at a time by <see cref="TryCopyVerified"/>: small enough to stay in the CPU's caches in between.</summary>
    private const int CopyPiece = 64 * 1024;

    /// <summary>
    /// Verifies a record whose framing <see cref="TryParse"/> accepted and copies its payload to
    /// <paramref name="destination"/> in one pass: each piece is hashed, then copied while it is still in the CPU's
    /// caches, where verifying first and copying after read every byte from memory twice. False means the record is
    /// corrupt; the destination then holds unverified bytes and the caller must treat it as not filled.
    /// </summary>
    public static bool TryCopyVerified(ReadOnlySpan<byte> key, ReadOnlySpan<byte> record, Span<byte> destination)
    {
        var hash = StartChecksum(key, record);
        var payload = record[Size..];
        for (int offset = 0; offset < payload.Length; offset += CopyPiece)
        {
            var piece = payload.Slice(offset, Math.Min(CopyPiece, payload.Length - offset));
            hash.Append(piece);
            piece.CopyTo(destination[offset..]);
        }
        return BinaryPrimitives.ReadUInt64LittleEndian(record[24..]) == hash.GetCurrentHashAsUInt64();
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
