using CheckpointCache.Cluster.Peers;
using CheckpointCache.Engine;
using CheckpointCache.Rpc.Peer.V1;
using Google.Protobuf;
using Grpc.Core;

namespace CheckpointCache.Cluster.Replication;

/// <summary>
/// Streams local values to one peer's Replicate call, chunk by chunk from the engine (a 64 MiB value is
/// never held whole). Rebalance traffic passes through the rate limiter; write replication does not.
/// </summary>
public sealed class CopySender(PeerClients peers, ClusterCounters counters, string selfId)
{
    /// <summary>Sends every key that is still held here; true per key that the peer stored.</summary>
    public async Task<bool[]> SendAsync(ICacheNamespace store, string peerEndpoint, IReadOnlyList<byte[]> keys, ReplicateReason reason,
        ByteRateLimiter? limiter, CancellationToken ct)
    {
        var ok = new bool[keys.Count];
        var sentIndex = new List<int>();
        var sentBytes = new List<long>();
        using var call = peers.For(peerEndpoint).Replicate(peers.Call(ct, TimeSpan.FromHours(1)));
        var buffer = new byte[PeerService.FrameBytes];
        bool storeNamed = false;
        for (int i = 0; i < keys.Count; i++)
        {
            using var reader = await store.OpenReadAsync(keys[i], ct).ConfigureAwait(false);
            if (reader is null) continue; // gone since it was listed: nothing to send
            if (buffer.Length < reader.ChunkLength) buffer = new byte[reader.ChunkLength];
            var first = new ReplicateFrame { Key = ByteString.CopyFrom(keys[i]), TotalLength = (ulong)reader.Length, NewItem = true, Reason = reason, FromNode = selfId };
            if (!storeNamed) { first.Store = store.Name; storeNamed = true; }
            bool sentFirst = false;
            try
            {
                for (int c = 0; c < Math.Max(1, reader.ChunkCount); c++)
                {
                    int n = reader.Length == 0 ? 0 : await reader.ReadChunkAsync(c, buffer, ct).ConfigureAwait(false);
                    for (int offset = 0; offset < n || (n == 0 && !sentFirst);)
                    {
                        int length = Math.Min(PeerService.FrameBytes, n - offset);
                        if (limiter is not null && length > 0) await limiter.WaitAsync(length, ct).ConfigureAwait(false);
                        var frame = sentFirst ? new ReplicateFrame() : first;
                        frame.Data = ByteString.CopyFrom(buffer, offset, length);
                        await call.RequestStream.WriteAsync(frame, ct).ConfigureAwait(false);
                        sentFirst = true;
                        offset += length;
                        if (n == 0) break;
                    }
                }
            }
            catch (ChunkMissingException)
            {
                // The value vanished mid-read; the peer sees a length mismatch and keeps nothing.
                if (!sentFirst) continue;
            }
            sentIndex.Add(i);
            sentBytes.Add(reader.Length);
        }
        if (!storeNamed) { call.Dispose(); return ok; }
        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        var response = await call.ResponseAsync.ConfigureAwait(false);
        foreach (var r in response.Results)
        {
            if (r.Code != (int)StatusCode.OK || r.Index >= sentIndex.Count) continue;
            ok[sentIndex[(int)r.Index]] = true;
            counters.Sent(reason, sentBytes[(int)r.Index]);
        }
        return ok;
    }
}
