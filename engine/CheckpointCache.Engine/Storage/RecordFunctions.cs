using FASTER.core;

namespace CheckpointCache.Engine.Storage;

/// <summary>
/// FASTER callbacks for SpanByte records carrying a <see cref="RecordHeader"/>. Reads verify the
/// checksum in place (in log memory or in the disk read buffer); a payload that is copied out is verified piece by
/// piece as it is copied, and a record that fails is reported corrupt, never as a value.
/// FunctionsBase's defaults are wrong for SpanByte, so every callback used here is overridden.
/// </summary>
internal sealed unsafe class RecordFunctions : FunctionsBase<SpanByte, SpanByte, RecordInput, RecordOutput, Empty>
{
    private readonly PinnedBufferPool _pool;

    public RecordFunctions(PinnedBufferPool pool) => _pool = pool;

    public override bool SingleReader(ref SpanByte key, ref RecordInput input, ref SpanByte value, ref RecordOutput output, ref ReadInfo readInfo)
        => Read(ref key, ref input, ref value, ref output, readInfo.Address);

    public override bool ConcurrentReader(ref SpanByte key, ref RecordInput input, ref SpanByte value, ref RecordOutput output, ref ReadInfo readInfo)
        => Read(ref key, ref input, ref value, ref output, readInfo.Address);

    private bool Read(ref SpanByte key, ref RecordInput input, ref SpanByte value, ref RecordOutput output, long address)
    {
        output.Address = address;
        var record = value.AsReadOnlySpan();
        // A payload that is copied out is verified during its copy (RecordHeader.TryCopyVerified); the rest here.
        bool copiesPayload = !input.HeaderOnly && record.Length >= RecordHeader.Size && (RecordType)record[4] is RecordType.Inline or RecordType.Chunk;
        if (!RecordHeader.TryParse(key.AsReadOnlySpan(), record, verifyChecksum: !copiesPayload, out var type, out var length, out var index, out var generation))
        {
            output.Outcome = ReadOutcome.Corrupt;
            return true;
        }
        output.Type = type;
        output.PayloadLength = length;
        output.ChunkIndex = index;
        output.Generation = generation;
        var payload = record[RecordHeader.Size..];
        if (type == RecordType.Manifest)
        {
            output.Outcome = Manifest.TryRead(payload, out output.Manifest) ? ReadOutcome.Ok : ReadOutcome.Corrupt;
            return true;
        }
        if (input.HeaderOnly)
        {
            output.Outcome = ReadOutcome.Ok;
            return true;
        }
        if (input.Destination != null)
        {
            if (length > input.Capacity)
            {
                output.Outcome = ReadOutcome.DestinationTooSmall;
                return true;
            }
            output.Outcome = RecordHeader.TryCopyVerified(key.AsReadOnlySpan(), record, new Span<byte>(input.Destination, input.Capacity))
                ? ReadOutcome.Ok : ReadOutcome.Corrupt;
            return true;
        }
        var buffer = _pool.Rent(length);
        if (!RecordHeader.TryCopyVerified(key.AsReadOnlySpan(), record, buffer.GetSpan()))
        {
            buffer.Dispose();
            output.Outcome = ReadOutcome.Corrupt;
            return true;
        }
        output.Owned = buffer;
        output.Outcome = ReadOutcome.Ok;
        return true;
    }

    public override bool SingleWriter(ref SpanByte key, ref RecordInput input, ref SpanByte src, ref SpanByte dst, ref RecordOutput output, ref UpsertInfo upsertInfo, WriteReason reason)
    {
        src.CopyTo(ref dst);
        return true;
    }

    public override bool ConcurrentWriter(ref SpanByte key, ref RecordInput input, ref SpanByte src, ref SpanByte dst, ref RecordOutput output, ref UpsertInfo upsertInfo)
        // Never update in place: a reader copying the old bytes would see a mix, and a root
        // rewritten in place would sit below the chunks it names. FASTER appends a new record instead.
        => false;

    public override bool SingleDeleter(ref SpanByte key, ref SpanByte value, ref DeleteInfo deleteInfo) => true;

    public override bool ConcurrentDeleter(ref SpanByte key, ref SpanByte value, ref DeleteInfo deleteInfo) => true;

    public override void ReadCompletionCallback(ref SpanByte key, ref RecordInput input, ref RecordOutput output, Empty ctx, Status status, RecordMetadata recordMetadata) { }

    public override void DisposeDeserializedFromDisk(ref SpanByte key, ref SpanByte value) { }
}
