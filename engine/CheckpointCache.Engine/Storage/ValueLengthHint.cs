using FASTER.core;

namespace CheckpointCache.Engine.Storage;

/// <summary>
/// SpanByte lengths with a realistic initial length. FASTER's first disk read of a record fetches
/// the "average record size"; for SpanByte that is 24 bytes, which forces a second I/O for every
/// value. Reporting the typical value size makes most disk reads a single I/O.
/// </summary>
internal sealed unsafe class ValueLengthHint(int typicalLength) : IVariableLengthStruct<SpanByte>
{
    private readonly SpanByteVarLenStruct _inner = default;

    public int GetInitialLength() => typicalLength;
    public int GetLength(ref SpanByte t) => _inner.GetLength(ref t);
    public void Serialize(ref SpanByte source, void* destination) => _inner.Serialize(ref source, destination);
    public ref SpanByte AsRef(void* source) => ref _inner.AsRef(source);
    public void Initialize(void* source, void* end) => _inner.Initialize(source, end);
}
