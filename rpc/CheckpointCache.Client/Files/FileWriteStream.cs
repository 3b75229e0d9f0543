using System.Net.Sockets;
using CheckpointCache.Client.DataSocket;
using CheckpointCache.Rpc.Files.V1;
using Google.Protobuf;
using Grpc.Core;

namespace CheckpointCache.Client.Files;

/// <summary>
/// One Write call: frames at offsets into a session, in order. Not thread-safe: one writer at a time.
/// Complete it to learn that the node took every byte (a refusal surfaces there, or at the next write).
/// Over a Unix socket the bytes go over the node's data socket when it has one (docs/api.md), else as gRPC frames.
/// </summary>
public sealed class FileWriteStream : IAsyncDisposable
{
    private readonly Func<AsyncClientStreamingCall<WriteFrame, WriteResponse>> _open;
    private readonly CacheClient? _client;
    private readonly ulong _sessionId;
    private readonly int _frameBytes;
    private readonly CancellationToken _ct;
    private AsyncClientStreamingCall<WriteFrame, WriteResponse>? _grpc;
    private DataSocketFileWriter? _data;
    private bool _chosen;
    private bool _first = true;
    private bool _completed;

    internal FileWriteStream(Func<AsyncClientStreamingCall<WriteFrame, WriteResponse>> open, CacheClient? client, ulong sessionId, int frameBytes, TimeSpan timeout, CancellationToken ct)
    {
        _open = open;
        _client = client;
        _sessionId = sessionId;
        _frameBytes = frameBytes;
        // The gRPC call has its deadline; the data socket gets the same bound through cancellation.
        _deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _deadline.CancelAfter(timeout);
        _ct = _deadline.Token;
    }

    private readonly CancellationTokenSource _deadline;

    private AsyncClientStreamingCall<WriteFrame, WriteResponse> GrpcCall => _grpc ??= _open();

    /// <summary>The transport, chosen at the first write: the data socket when the node has one, else gRPC.</summary>
    private async ValueTask ChooseAsync(CancellationToken ct)
    {
        if (_chosen) return;
        _chosen = true;
        if (_client is not null && await _client.DataSocketAsync(ct) is { } socket) _data = new DataSocketFileWriter(socket, _sessionId);
    }

    /// <summary>
    /// Sends <paramref name="data"/> at <paramref name="offset"/>; the memory must stay unchanged until this returns, or,
    /// when it lies in a <see cref="SharedMemory.SharedBuffer"/> (which the node reads from directly), until
    /// <see cref="CompleteAsync"/> returns.
    /// </summary>
    public async Task WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        await ChooseAsync(cancellationToken);
        if (_data is not null)
        {
            try
            {
                using var both = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _ct);
                await _data.WriteAsync(offset, data, both.Token);
                return;
            }
            catch (RpcException e)
            {
                // The node answered a call the writer ended to switch between socket and shared-buffer records.
                throw FilesClientException.From(e);
            }
            catch (Exception e) when ((e is SocketException or IOException or ObjectDisposedException) && !_data.Sent)
            {
                // The node has applied nothing (no data socket, or a dead idle connection): the stream goes over gRPC.
                await FallBackToGrpcAsync(e);
            }
            catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
            {
                // The node refused the stream and closed it, or went away: its answer, when there is one, says why.
                throw await DataRefusalAsync(e);
            }
            catch (OperationCanceledException) when (_ct.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw FilesClientException.From(new RpcException(new Status(StatusCode.DeadlineExceeded, "the write stream ran past its deadline (data socket)")));
            }
        }
        try
        {
            for (int sent = 0; sent < data.Length || (data.IsEmpty && _first); )
            {
                int n = Math.Min(_frameBytes, data.Length - sent);
                var frame = new WriteFrame { Offset = offset + sent, Data = UnsafeByteOperations.UnsafeWrap(data.Slice(sent, n)) };
                if (_first) frame.SessionId = _sessionId;
                _first = false;
                await GrpcCall.RequestStream.WriteAsync(frame, cancellationToken);
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
            await GrpcCall.ResponseAsync;
        }
        catch (RpcException e)
        {
            return FilesClientException.From(e);
        }
        return sending is RpcException r ? FilesClientException.From(r) : sending;
    }

    private async Task FallBackToGrpcAsync(Exception e)
    {
        _client!.DataSocketBroke(new DataSocketUnavailableException(e.Message, e));
        await _data!.DisposeAsync();
        _data = null;
    }

    private async Task<Exception> DataRefusalAsync(Exception sending)
    {
        try
        {
            await _data!.ThrowRefusalAsync(_ct);
        }
        catch (RpcException e)
        {
            return FilesClientException.From(e);
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
        {
        }
        _client?.DataSocketBroke(new DataSocketUnavailableException(sending.Message, sending));
        return FilesClientException.From(new RpcException(new Status(StatusCode.Unavailable, $"the data socket broke during a write: {sending.Message}")));
    }

    /// <summary>Ends the stream and waits until the node has taken every frame.</summary>
    public async Task<WriteResponse> CompleteAsync()
    {
        _completed = true;
        await ChooseAsync(_ct);
        if (_data is not null)
        {
            try
            {
                return await _data.CompleteAsync(_ct);
            }
            catch (Exception e) when ((e is SocketException or IOException or ObjectDisposedException) && !_data.Sent)
            {
                await FallBackToGrpcAsync(e);
                return await CompleteAsync();
            }
            catch (RpcException e)
            {
                throw FilesClientException.From(e);
            }
            catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
            {
                throw await DataRefusalAsync(e);
            }
            catch (OperationCanceledException) when (_ct.IsCancellationRequested)
            {
                throw FilesClientException.From(new RpcException(new Status(StatusCode.DeadlineExceeded, "the write stream ran past its deadline (data socket)")));
            }
        }
        try
        {
            await GrpcCall.RequestStream.CompleteAsync();
            return await GrpcCall.ResponseAsync;
        }
        catch (RpcException e)
        {
            throw FilesClientException.From(e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Disposing an unfinished call cancels it: the node sees the cancellation and keeps the frames it took.
        _grpc?.Dispose();
        if (_data is not null) await _data.DisposeAsync();
        _deadline.Dispose();
    }

    public bool IsCompleted => _completed;
}
