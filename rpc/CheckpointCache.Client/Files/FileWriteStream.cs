using CheckpointCache.Rpc.Files.V1;
using Google.Protobuf;
using Grpc.Core;

namespace CheckpointCache.Client.Files;

/// <summary>
/// One Write call: frames at offsets into a session, in order. Not thread-safe: one writer at a time.
/// Complete it to learn that the node took every byte (a refusal surfaces there, or at the next write).
/// </summary>
public sealed class FileWriteStream : IAsyncDisposable
{
    private readonly AsyncClientStreamingCall<WriteFrame, WriteResponse> _call;
    private readonly ulong _sessionId;
    private readonly int _frameBytes;
    private bool _first = true;
    private bool _completed;

    internal FileWriteStream(AsyncClientStreamingCall<WriteFrame, WriteResponse> call, ulong sessionId, int frameBytes)
    {
        _call = call;
        _sessionId = sessionId;
        _frameBytes = frameBytes;
    }

    /// <summary>Sends <paramref name="data"/> at <paramref name="offset"/>; the memory must stay unchanged until this returns.</summary>
    public async Task WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        try
        {
            for (int sent = 0; sent < data.Length || (data.IsEmpty && _first); )
            {
                int n = Math.Min(_frameBytes, data.Length - sent);
                var frame = new WriteFrame { Offset = offset + sent, Data = UnsafeByteOperations.UnsafeWrap(data.Slice(sent, n)) };
                if (_first) frame.SessionId = _sessionId;
                _first = false;
                await _call.RequestStream.WriteAsync(frame, cancellationToken);
                sent += n;
                if (n == 0) break;
            }
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException or IOException)
        {
            // The node ended the call (a refusal, or it went away) while we were still sending: its status says why.
            throw await StatusOfAsync(e);
        }
    }

    private async Task<Exception> StatusOfAsync(Exception sending)
    {
        try
        {
            await _call.ResponseAsync;
        }
        catch (RpcException e)
        {
            return FilesClientException.From(e);
        }
        return sending is RpcException r ? FilesClientException.From(r) : sending;
    }

    /// <summary>Ends the stream and waits until the node has taken every frame.</summary>
    public async Task<WriteResponse> CompleteAsync()
    {
        _completed = true;
        try
        {
            await _call.RequestStream.CompleteAsync();
            return await _call.ResponseAsync;
        }
        catch (RpcException e)
        {
            throw FilesClientException.From(e);
        }
    }

    public ValueTask DisposeAsync()
    {
        // Disposing an unfinished call cancels it: the node sees the cancellation and keeps the frames it took.
        _call.Dispose();
        return ValueTask.CompletedTask;
    }

    public bool IsCompleted => _completed;
}
