using System.IO.Hashing;
using CheckpointCache.Cluster.Peers;
using CheckpointCache.Engine.Files;
using CheckpointCache.Rpc.Peer.V1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Cluster.Replication;

/// <summary>
/// Streams one committed file version to a peer's ReplicateFile call, a frame at a time from the read session (a
/// large checkpoint is never held whole), with the XXH64 of the content on the last frame. Rebalance traffic passes
/// through the rate limiter; a commit's replication does not.
/// </summary>
internal sealed class FileCopySender(PeerClients peers, ClusterCounters counters, string selfId, ILogger logger)
{
    public async Task<FileCopyOutcome> SendAsync(string store, CommittedFile file, Membership.Member member, ReplicateReason reason, ByteRateLimiter? limiter, CancellationToken ct)
    {
        try
        {
            using var call = peers.For(member.PeerEndpoint).ReplicateFile(peers.Call(ct, TimeSpan.FromHours(1)));
            await call.RequestStream.WriteAsync(new FileFrame
            {
                Header = true, Store = store, Path = file.Path, Stamp = file.Stamp.ToProto(), Size = (ulong)file.Size, Reason = reason, FromNode = selfId,
            }, ct).ConfigureAwait(false);
            var hash = new XxHash64();
            var buffer = new byte[PeerService.FrameBytes];
            for (long offset = 0; offset < file.Size;)
            {
                int n = await file.Session.ReadAsync(offset, buffer, ct).ConfigureAwait(false);
                if (n == 0) break;
                if (limiter is not null) await limiter.WaitAsync(n, ct).ConfigureAwait(false);
                hash.Append(buffer.AsSpan(0, n));
                await call.RequestStream.WriteAsync(new FileFrame { Data = ByteString.CopyFrom(buffer, 0, n) }, ct).ConfigureAwait(false);
                offset += n;
            }
            await call.RequestStream.WriteAsync(new FileFrame { Last = true, Checksum = hash.GetCurrentHashAsUInt64() }, ct).ConfigureAwait(false);
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            var response = await call.ResponseAsync.ConfigureAwait(false);
            if (response.Stored) counters.FileSent(reason, file.Size);
            return response.Stored ? FileCopyOutcome.Stored : response.NewerHeld ? FileCopyOutcome.NewerHeld : FileCopyOutcome.Failed;
        }
        catch (RpcException e) when (!ct.IsCancellationRequested)
        {
            logger.LogWarning("Copying {Path} of {Store} to {Member} failed: {Code} {Detail}", file.Path, store, member.Id, e.StatusCode, e.Status.Detail);
            return FileCopyOutcome.Failed;
        }
    }
}
