using CheckpointCache.Rpc.Peer.V1;
using Grpc.Core;

namespace CheckpointCache.Cluster.Replication;

/// <summary>
/// A value being read from another member: its length is known, its bytes arrive as frames. If the peer
/// aborts the value part way (a chunk vanished there), reading throws <see cref="RemoteValueLostException"/>
/// and the caller must treat it as a miss.
/// </summary>
public sealed class RemoteValue : IDisposable
{
    private readonly AsyncServerStreamingCall<FetchFrame> _call;
    private readonly FetchFrame _first;

    internal RemoteValue(AsyncServerStreamingCall<FetchFrame> call, FetchFrame first, string source)
    {
        _call = call;
        _first = first;
        Source = source;
    }

    public long Length => (long)_first.TotalLength;

    /// <summary>Member id that served it.</summary>
    public string Source { get; }

    public async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        long received = _first.Data.Length;
        if (!_first.Data.IsEmpty) yield return _first.Data.Memory;
        while (received < Length)
        {
            if (!await _call.ResponseStream.MoveNext(ct).ConfigureAwait(false))
                throw new RemoteValueLostException($"{Source} ended the stream after {received} of {Length} bytes");
            var f = _call.ResponseStream.Current;
            if (f.Code != 0) throw new RemoteValueLostException($"{Source} lost the value after {received} of {Length} bytes");
            received += f.Data.Length;
            yield return f.Data.Memory;
        }
    }

    public void Dispose() => _call.Dispose();
}

public sealed class RemoteValueLostException(string message) : Exception(message);
