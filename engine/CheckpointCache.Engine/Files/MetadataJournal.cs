using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Engine.Files;

/// <summary>
/// Where the tree's metadata lives in the engine: records J(1), J(2), ... appended strictly in
/// sequence (the tree's gate serializes appends, so the log holds them in order and a crash keeps
/// a prefix), and now and then a snapshot of the whole tree in parts plus a pointer naming it and
/// the last record it includes. Recovery reads the snapshot and replays records after it until
/// the first one missing.
/// </summary>
internal sealed class MetadataJournal(ICacheNamespace ns, int partBytes, ILogger logger)
{
    private Task _snapshot = Task.CompletedTask;
    private long _snapshotId;
    private int _snapshotParts;
    private int _snapshotRunning;

    /// <summary>The last record appended (or replayed).</summary>
    public long Sequence { get; private set; }
    public long SnapshotSequence { get; private set; }
    public int RecordsSinceSnapshot { get; private set; }
    public bool SnapshotRunning => Volatile.Read(ref _snapshotRunning) != 0;

    public async Task AppendAsync(JournalRecord record, CancellationToken cancellationToken)
    {
        await ns.PutAsync(BlockKey.Journal(Sequence + 1), record.Serialize(), cancellationToken).ConfigureAwait(false);
        Sequence++;
        RecordsSinceSnapshot++;
    }

    public async Task<TreeSnapshot.Image?> ReadSnapshotAsync(CancellationToken cancellationToken)
    {
        using var pointer = await ns.GetAsync(BlockKey.SnapshotPointer, cancellationToken).ConfigureAwait(false);
        if (pointer is null) return null;
        var p = pointer.Span;
        _snapshotId = BinaryPrimitives.ReadInt64LittleEndian(p);
        SnapshotSequence = Sequence = BinaryPrimitives.ReadInt64LittleEndian(p[8..]);
        _snapshotParts = BinaryPrimitives.ReadInt32LittleEndian(p[16..]);
        long length = BinaryPrimitives.ReadInt64LittleEndian(p[20..]);
        var bytes = new byte[length];
        int offset = 0;
        for (int part = 0; part < _snapshotParts; part++)
        {
            using var value = await ns.GetAsync(BlockKey.SnapshotPart(_snapshotId, part), cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidDataException($"part {part} of metadata snapshot {_snapshotId:x} in namespace '{ns.Name}' is missing");
            value.Span.CopyTo(bytes.AsSpan(offset));
            offset += value.Length;
        }
        if (offset != length) throw new InvalidDataException($"metadata snapshot {_snapshotId:x} has {offset} of {length} bytes");
        return TreeSnapshot.Restore(bytes);
    }

    public async IAsyncEnumerable<JournalRecord> ReplayAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (true)
        {
            using var value = await ns.GetAsync(BlockKey.Journal(Sequence + 1), cancellationToken).ConfigureAwait(false);
            if (value is null) yield break;
            var record = JournalRecord.Deserialize(value.Span);
            Sequence++;
            RecordsSinceSnapshot++;
            yield return record;
        }
    }

    /// <summary>Writes <paramref name="image"/> (the tree as of record <paramref name="sequence"/>) in the background.</summary>
    public void StartSnapshot(byte[] image, long sequence)
    {
        if (Interlocked.Exchange(ref _snapshotRunning, 1) != 0) return;
        RecordsSinceSnapshot = 0;
        _snapshot = Task.Run(() => WriteSnapshotAsync(image, sequence));
    }

    private async Task WriteSnapshotAsync(byte[] image, long sequence)
    {
        try
        {
            long id = BlockKey.NewVersion();
            int parts = (image.Length + partBytes - 1) / partBytes;
            for (int part = 0; part < parts; part++)
            {
                int start = part * partBytes;
                await ns.PutAsync(BlockKey.SnapshotPart(id, part), image.AsMemory(start, Math.Min(partBytes, image.Length - start))).ConfigureAwait(false);
            }
            var pointer = new byte[28];
            BinaryPrimitives.WriteInt64LittleEndian(pointer, id);
            BinaryPrimitives.WriteInt64LittleEndian(pointer.AsSpan(8), sequence);
            BinaryPrimitives.WriteInt32LittleEndian(pointer.AsSpan(16), parts);
            BinaryPrimitives.WriteInt64LittleEndian(pointer.AsSpan(20), image.Length);
            // The pointer is written after its parts: a crash in between leaves the previous snapshot in force.
            await ns.PutAsync(BlockKey.SnapshotPointer, pointer).ConfigureAwait(false);
            long oldId = _snapshotId, oldSequence = SnapshotSequence;
            int oldParts = _snapshotParts;
            _snapshotId = id;
            _snapshotParts = parts;
            SnapshotSequence = sequence;
            for (int part = 0; part < oldParts; part++) await ns.DeleteAsync(BlockKey.SnapshotPart(oldId, part)).ConfigureAwait(false);
            for (long s = oldSequence + 1; s <= sequence; s++) await ns.DeleteAsync(BlockKey.Journal(s)).ConfigureAwait(false);
            logger.LogDebug("Metadata snapshot of namespace {Namespace} at record {Sequence}: {Bytes} bytes in {Parts} parts", ns.Name, sequence, image.Length, parts);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Metadata snapshot of namespace {Namespace} failed; the journal keeps growing until the next one", ns.Name);
        }
        finally
        {
            Volatile.Write(ref _snapshotRunning, 0);
        }
    }

    public Task WaitForSnapshotAsync() => _snapshot;
}
