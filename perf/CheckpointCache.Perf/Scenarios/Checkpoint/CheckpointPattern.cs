using System.Buffers.Binary;

namespace CheckpointCache.Perf.Scenarios.Checkpoint;

/// <summary>
/// How torch.save writes a checkpoint file: a small zip header, then each tensor's bytes as one large
/// write of uneven size (so writes start at unaligned offsets), then the small central directory.
/// Every 4 KiB of content is stamped with (file, offset), so reading back checks each byte's place
/// without hashing gigabytes on a small machine.
/// </summary>
public sealed class CheckpointPattern
{
    private const int Stride = 4096;
    private const ulong Salt = 0x9E3779B97F4A7C15;
    private readonly byte[] _filler;

    public CheckpointPattern(long fileBytes, int seed)
    {
        FileBytes = fileBytes;
        _filler = new byte[32 * 1024 * 1024 + Stride];
        new Random(seed).NextBytes(_filler);
        var random = new Random(seed);
        var pieces = new List<int> { 64 };
        long total = 64;
        long tail = 22 + 46 * 8;
        while (total < fileBytes - tail)
        {
            int n = (int)Math.Min(fileBytes - tail - total, random.Next(1, 32) * 1024 * 1024 + random.Next(0, 4096));
            pieces.Add(n);
            total += n;
        }
        pieces.Add((int)(fileBytes - total));
        Pieces = pieces;
    }

    public long FileBytes { get; }

    /// <summary>Write sizes in order; they add up to <see cref="FileBytes"/>.</summary>
    public IReadOnlyList<int> Pieces { get; }

    public int LargestPiece => Pieces.Max();

    /// <summary>Fills <paramref name="destination"/> with the content of file <paramref name="file"/> at <paramref name="offset"/>.</summary>
    public void Fill(Span<byte> destination, int file, long offset)
    {
        int start = (int)(offset % Stride);
        for (int done = 0; done < destination.Length;)
        {
            int n = Math.Min(destination.Length - done, _filler.Length - start - Stride);
            _filler.AsSpan(start, n).CopyTo(destination[done..]);
            done += n;
            start = (int)((offset + done) % Stride);
        }
        // Stamps sit at file offsets that are multiples of the stride.
        long first = (offset + Stride - 1) / Stride * Stride;
        for (long at = first; at + 16 <= offset + destination.Length; at += Stride)
        {
            var span = destination[(int)(at - offset)..];
            BinaryPrimitives.WriteInt64LittleEndian(span, file);
            BinaryPrimitives.WriteUInt64LittleEndian(span[8..], (ulong)at ^ Salt);
        }
    }

    /// <summary>Checks the stamps of bytes read from file <paramref name="file"/> at <paramref name="offset"/>.</summary>
    public bool Verify(ReadOnlySpan<byte> data, int file, long offset)
    {
        long first = (offset + Stride - 1) / Stride * Stride;
        for (long at = first; at + 16 <= offset + data.Length; at += Stride)
        {
            var span = data[(int)(at - offset)..];
            if (BinaryPrimitives.ReadInt64LittleEndian(span) != file) return false;
            if (BinaryPrimitives.ReadUInt64LittleEndian(span[8..]) != ((ulong)at ^ Salt)) return false;
        }
        return true;
    }
}
