namespace CheckpointCache.Client.DataSocket;

/// <summary>
/// The data socket's framing (docs/api.md, "Data socket"): BatchGet and BatchPut of the KV API as plain
/// little-endian frames on a Unix socket, so values move with one copy into and out of the kernel each way
/// instead of through HTTP/2 framing and protobuf messages. One call at a time per connection.
/// </summary>
public static class DataWire
{
    /// <summary>"CKD1": starts every request.</summary>
    public const uint RequestMagic = 0x31444B43;

    /// <summary>"CKR1": starts every response.</summary>
    public const uint ResponseMagic = 0x31524B43;

    public const byte OpGet = 1;
    public const byte OpPut = 2;

    /// <summary>Files Write: a session id, then (offset, length, bytes) records ended by <see cref="RecordEnd"/>.</summary>
    public const byte OpFileWrite = 3;

    /// <summary>Files Read: a session id, an offset and a length; the bytes come back as segments.</summary>
    public const byte OpFileRead = 4;

    /// <summary>Register a shared buffer: its size, then (after the node's go-ahead) one byte carrying its memfd.</summary>
    public const byte OpRegisterBuffer = 5;

    /// <summary>BatchGet into registered shared buffers: per key, the buffer, offset and room the value goes to.</summary>
    public const byte OpGetShared = 6;

    /// <summary>BatchPut from registered shared buffers: per item, the buffer, offset and length of the value.</summary>
    public const byte OpPutShared = 7;

    /// <summary>Files Write from registered shared buffers: a session id, then (offset, length, buffer, buffer offset) records ended as op 3's.</summary>
    public const byte OpFileWriteShared = 8;

    /// <summary>Files Read into a registered shared buffer: a session id, an offset, a length, the buffer and the offset there; answers the bytes read.</summary>
    public const byte OpFileReadShared = 9;

    /// <summary>The length that ends a file write's records.</summary>
    public const uint RecordEnd = uint.MaxValue;

    /// <summary>Most bytes in one file-write record (the node reads a record into one buffer).</summary>
    public const int MaxRecordBytes = 4 * 1024 * 1024;

    /// <summary>magic u32, op u8, flags u8, reserved u16, namespace length u32, count u32.</summary>
    public const int RequestHeaderBytes = 16;

    /// <summary>Largest encoded NamespaceRef a request may carry.</summary>
    public const int MaxNamespaceBytes = 1024;

    /// <summary>Messages longer than this are cut (they name a limit, not data).</summary>
    public const int MaxMessageBytes = 2048;

    /// <summary>Ends a value's segments: every byte of it was sent.</summary>
    public const uint SegmentEnd = 0;

    /// <summary>Ends a value's segments early: the value was lost while being sent; a code and a message follow.</summary>
    public const uint SegmentAbort = uint.MaxValue;
}
