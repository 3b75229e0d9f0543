namespace CheckpointCache.Engine.Storage;

/// <summary>What a log record holds.</summary>
internal enum RecordType : byte
{
    /// <summary>A whole value small enough for one record, stored under its root key.</summary>
    Inline = 1,
    /// <summary>The root of a chunked value: length, chunk layout, generation.</summary>
    Manifest = 2,
    /// <summary>One chunk of a chunked value, keyed by generation and index.</summary>
    Chunk = 3,
}
