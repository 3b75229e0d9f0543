using System.Buffers.Binary;

namespace CheckpointCache.Perf.Framework;

/// <summary>
/// Values whose content says which key and which offset they belong to, checkable without
/// hashing whole megabytes on a small machine: every 4 KiB block starts with (key id, offset).
/// A value served under the wrong key, a block from the wrong place, a truncated or zeroed block
/// all fail the check; the filler between stamps is shared by all keys and is not checked.
/// </summary>
public static class ValuePattern
{
    private const int Stride = 4096;
    private const ulong Salt = 0x9E3779B97F4A7C15;

    /// <summary>16-byte key for an id, shaped like the hashes real callers use.</summary>
    public static byte[] Key(long id)
    {
        var key = new byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(key, id);
        BinaryPrimitives.WriteUInt64LittleEndian(key.AsSpan(8), (ulong)id * Salt);
        return key;
    }

    /// <summary>A value-sized buffer of incompressible filler; stamp it per key before each write.</summary>
    public static byte[] NewBuffer(int length)
    {
        var buffer = new byte[length];
        new Random(length).NextBytes(buffer);
        return buffer;
    }

    public static void Stamp(Span<byte> value, long id)
    {
        for (int offset = 0; offset + 16 <= value.Length; offset += Stride)
        {
            BinaryPrimitives.WriteInt64LittleEndian(value[offset..], id);
            BinaryPrimitives.WriteUInt64LittleEndian(value[(offset + 8)..], (ulong)offset ^ Salt);
        }
    }

    public static bool Verify(ReadOnlySpan<byte> value, long id, int expectedLength)
    {
        if (value.Length != expectedLength) return false;
        for (int offset = 0; offset + 16 <= value.Length; offset += Stride)
        {
            if (BinaryPrimitives.ReadInt64LittleEndian(value[offset..]) != id) return false;
            if (BinaryPrimitives.ReadUInt64LittleEndian(value[(offset + 8)..]) != ((ulong)offset ^ Salt)) return false;
        }
        return true;
    }
}
