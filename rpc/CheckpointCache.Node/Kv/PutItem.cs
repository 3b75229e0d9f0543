using System.Diagnostics;
using CheckpointCache.Engine;
using Grpc.Core;

namespace CheckpointCache.Node;

/// <summary>
/// One item of a BatchPut stream while its bytes arrive. An accepted item writes into an engine writer;
/// a refused one swallows its remaining data frames so the stream can go on to the next item. Nothing
/// is published until the item is closed with exactly its declared length, so a cut stream, an expired
/// deadline or a length mismatch leaves no value behind.
/// </summary>
internal sealed class PutItem : IAsyncDisposable
{
    private readonly long _started = Stopwatch.GetTimestamp();
    private IObjectWriter? _writer;

    private PutItem(int index, long totalLength, IObjectWriter? writer, StatusCode code, string message, byte[]? engineKey = null)
    {
        EngineKey = engineKey;
        Index = index;
        TotalLength = totalLength;
        _writer = writer;
        Code = code;
        Message = message;
    }

    public static PutItem Accepted(int index, long totalLength, IObjectWriter writer, byte[] engineKey) => new(index, totalLength, writer, StatusCode.OK, "", engineKey);
    public static PutItem Refused(int index, long totalLength, StatusCode code, string message) => new(index, totalLength, null, code, message);

    public int Index { get; }
    /// <summary>The key as the engine stores it (namespace id first); null for a refused item.</summary>
    public byte[]? EngineKey { get; }
    public long TotalLength { get; }
    public long Received { get; private set; }
    public StatusCode Code { get; private set; }
    public string Message { get; private set; }
    public bool IsWriting => _writer is not null;
    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(_started);

    /// <summary>Takes one data frame's bytes: written if the item is accepted, dropped if it was refused.</summary>
    public async ValueTask AcceptAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        Received += data.Length;
        if (Received > TotalLength)
        {
            if (Code == StatusCode.OK)
                await FailAsync(StatusCode.InvalidArgument, $"item {Index}: more bytes arrived than its total_length ({TotalLength})");
            return;
        }
        if (_writer is not null) await _writer.WriteAsync(data, cancellationToken);
    }

    /// <summary>Publishes the value if exactly its declared bytes arrived; otherwise records why not.</summary>
    public async ValueTask CloseAsync(CancellationToken cancellationToken)
    {
        if (_writer is null) return;
        if (Received != TotalLength)
        {
            await FailAsync(StatusCode.InvalidArgument, $"item {Index}: total_length mismatch: {Received} of {TotalLength} bytes arrived before the item ended");
            return;
        }
        // A deadline that has passed must not publish: the caller is told the call failed.
        cancellationToken.ThrowIfCancellationRequested();
        await _writer.CompleteAsync(cancellationToken);
        var writer = _writer;
        _writer = null;
        await writer.DisposeAsync();
    }

    /// <summary>Refuses the item from now on; what was written is abandoned, never published.</summary>
    public async ValueTask FailAsync(StatusCode code, string message)
    {
        Code = code;
        Message = message;
        await AbandonAsync();
    }

    private async ValueTask AbandonAsync()
    {
        var writer = _writer;
        _writer = null;
        if (writer is not null) await writer.DisposeAsync();
    }

    public ValueTask DisposeAsync() => AbandonAsync();
}
