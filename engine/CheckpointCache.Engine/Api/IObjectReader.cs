namespace CheckpointCache.Engine;

/// <summary>
/// Reads one committed value chunk by chunk, so a front door can stream a 64 MiB value without
/// holding all of it. The chunks belong to one immutable version: a concurrent overwrite does not
/// mix versions. If a chunk has gone (evicted, corrupt) reading it throws <see cref="ChunkMissingException"/>
/// and the value must be treated as a miss.
/// </summary>
public interface IObjectReader : IDisposable
{
    long Length { get; }
    int ChunkCount { get; }
    /// <summary>Payload bytes per chunk; the last chunk may be shorter.</summary>
    int ChunkLength { get; }
    /// <summary>Tier the value's manifest was found in.</summary>
    Tier Tier { get; }
    /// <summary>Reads chunk <paramref name="index"/> into <paramref name="destination"/> and returns its length.</summary>
    ValueTask<int> ReadChunkAsync(int index, Memory<byte> destination, CancellationToken cancellationToken = default);
}

/// <summary>A chunk of an object could not be read back intact; the object is a miss.</summary>
public sealed class ChunkMissingException(string message) : Exception(message);
