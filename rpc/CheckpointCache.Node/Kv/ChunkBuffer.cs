using System.Buffers;
using CheckpointCache.Engine;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Node;

/// <summary>One pooled buffer a BatchGet reuses for every chunk it sends, grown when a value has larger chunks.</summary>
internal sealed class ChunkBuffer : IDisposable
{
    private byte[] _buffer = [];

    /// <summary>A buffer of at least <paramref name="chunkLength"/> bytes.</summary>
    public byte[] Fit(int chunkLength)
    {
        if (_buffer.Length < chunkLength)
        {
            if (_buffer.Length > 0) ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = ArrayPool<byte>.Shared.Rent(chunkLength);
        }
        return _buffer;
    }

    /// <summary>
    /// Reads chunk <paramref name="chunk"/> of value <paramref name="index"/> into <paramref name="buffer"/>: its length, or
    /// the reason it is gone (a chunk can vanish under eviction or fail its checksum; the value is then a miss).
    /// </summary>
    public static async ValueTask<(int Length, string? Lost)> ReadAsync(IObjectReader reader, int chunk, byte[] buffer, int index, ILogger logger, CancellationToken ct)
    {
        try
        {
            return (reader.Length == 0 ? 0 : await reader.ReadChunkAsync(chunk, buffer, ct), null);
        }
        catch (ChunkMissingException e)
        {
            logger.LogWarning("Value {Index} lost chunk {Chunk} of {Chunks} while being read: {Reason}", index, chunk, reader.ChunkCount, e.Message);
            return (0, $"key {index}: value is no longer cached ({e.Message})");
        }
    }

    public void Dispose()
    {
        if (_buffer.Length > 0) ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }
}
