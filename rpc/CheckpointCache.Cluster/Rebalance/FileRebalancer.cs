using CheckpointCache.Cluster.Membership;
using CheckpointCache.Cluster.Options;
using CheckpointCache.Cluster.Peers;
using CheckpointCache.Cluster.Placement;
using CheckpointCache.Cluster.Replication;
using CheckpointCache.Engine.Files;
using CheckpointCache.Rpc.Peer.V1;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Cluster.Rebalance;

/// <summary>
/// The files part of a rebalance pass. For every directory this node holds files in, it asks the directory's holders
/// under the current view what they have (ListFiles: paths, stamps, tombstones; no data), then per file:
/// - a newer tombstone elsewhere removes the copy here (a node back with old data does not resurrect a delete);
/// - holders that lack the version get it from the first holder in rank order that has it (the writer while it is a
///   member), under the rebalance bandwidth cap; a node that holds it without being a holder sends only when no
///   holder has it;
/// - a node that is not a holder (and not the writer) drops its copy once every holder has the version;
/// - with writeback, the first-ranked owner takes over the upload of versions whose writer left the cluster.
/// Files it could not settle (a holder unreachable, a copy refused) are counted as pending, and the pass is retried.
/// </summary>
internal sealed class FileRebalancer(ReplicatedFileStores stores, ClusterOptions options, string selfId, PeerClients peers, FileCopySender sender,
    ByteRateLimiter limiter, ClusterCounters counters, ILogger logger)
{
    /// <summary>One pass over every replicated files store; returns the files left unsettled.</summary>
    public async Task<long> PassAsync(MemberView view, CancellationToken ct)
    {
        long pending = 0;
        foreach (var tree in stores.Trees)
        {
            int replicas = options.PlacementOf(tree.NamespaceName).Replicas;
            var held = await tree.ListHeldFilesAsync(ct).ConfigureAwait(false);
            long before = pending;
            foreach (var directory in held.GroupBy(f => f.Directory, StringComparer.Ordinal))
                pending += await SettleDirectoryAsync(tree, replicas, view, directory.Key, directory.ToList(), ct).ConfigureAwait(false);
            if (tree.WritesBack)
            {
                int adopted = await tree.AdoptUploadsAsync(f => view.Find(f.Stamp.Origin) is null
                    && FilePlacement.Owners(f.Directory, view, 1, options.FailureDomainLabel) is [var first] && first.Id == selfId, ct).ConfigureAwait(false);
                if (adopted > 0) logger.LogInformation("Took over the upload of {Count} files of {Store} whose writer left the cluster", adopted, tree.NamespaceName);
            }
            if (held.Count > 0)
                logger.LogInformation("File rebalance of {Store} over {View}: {Files} files looked at, {Left} left for a retry", tree.NamespaceName, view, held.Count, pending - before);
        }
        counters.FilePassDone(pending);
        return pending;
    }

    private async Task<long> SettleDirectoryAsync(FileTree tree, int replicas, MemberView view, string directory, List<ReplicaEntry> files, CancellationToken ct)
    {
        var holders = files.ToDictionary(f => f.Path, f => FilePlacement.Holders(directory, f.Stamp.Origin, view, replicas, options.FailureDomainLabel), StringComparer.Ordinal);
        var asked = holders.Values.SelectMany(h => h).Where(m => m.Id != selfId).DistinctBy(m => m.Id).ToList();
        var reports = new Dictionary<string, Dictionary<string, ReplicaEntry>>(StringComparer.Ordinal);
        foreach (var member in asked)
        {
            try
            {
                var answer = await peers.For(member.PeerEndpoint).ListFilesAsync(new ListFilesRequest { Store = tree.NamespaceName, Directory = directory }, peers.Call(ct)).ConfigureAwait(false);
                reports[member.Id] = answer.Entries.Select(e => e.ToEngine()).Where(e => !e.IsDirectory).ToDictionary(e => e.Path, StringComparer.Ordinal);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                logger.LogInformation("File rebalance: {Member} did not answer ListFiles for {Directory} ({Reason}); retried", member.Id, directory, e.Message);
            }
        }
        long pending = 0;
        foreach (var file in files)
        {
            var seen = reports.Values.Select(r => r.GetValueOrDefault(file.Path)).OfType<ReplicaEntry>().ToList();
            if (seen.Where(e => e.Tombstone).MaxBy(e => e.Stamp) is { } tombstone && tombstone.Stamp.IsNewerThan(file.Stamp))
            {
                // Deleted elsewhere after this copy was made (this node was away): it goes.
                if (await tree.ApplyRemoteDeleteAsync(file.Path, tombstone.Stamp, ct).ConfigureAwait(false))
                    logger.LogInformation("Removed {Path} of {Store}: deleted on another node while this copy was away", file.Path, tree.NamespaceName);
                continue;
            }
            if (seen.Where(e => !e.Tombstone).MaxBy(e => e.Stamp) is { } newer && newer.Stamp.IsNewerThan(file.Stamp))
            {
                // A newer version is out there and its holders spread it; a copy here that is not to hold it is stale.
                bool holdsNewer = FilePlacement.Holders(directory, newer.Stamp.Origin, view, replicas, options.FailureDomainLabel).Any(m => m.Id == selfId);
                if (!holdsNewer && await tree.DropReplicaAsync(file.Path, file.Stamp, cancellationToken: ct).ConfigureAwait(false)) counters.FileDropped();
                continue;
            }
            var set = holders[file.Path];
            bool selfHolder = set.Any(m => m.Id == selfId);
            if (set.Any(m => m.Id != selfId && !reports.ContainsKey(m.Id))) { pending++; continue; }
            bool Has(Member m) => m.Id == selfId || (reports[m.Id].TryGetValue(file.Path, out var e) && !e.Tombstone && e.Stamp.CompareTo(file.Stamp) >= 0);
            var lacking = set.Where(m => !Has(m)).ToList();
            if (lacking.Count == 0)
            {
                if (!selfHolder && await tree.DropReplicaAsync(file.Path, file.Stamp, cancellationToken: ct).ConfigureAwait(false)) counters.FileDropped();
                continue;
            }
            // One sender per file where possible: the first holder in rank order that has it; a non-holder only when none does.
            var sender = set.FirstOrDefault(m => m.Id == selfId || Has(m));
            bool mine = selfHolder ? sender?.Id == selfId : sender is null;
            if (!mine)
            {
                if (!selfHolder) pending++; // dropped on a later pass, once the holders have it
                continue;
            }
            if (!await SendAsync(tree, file, lacking, ct).ConfigureAwait(false) || !selfHolder) pending++;
        }
        return pending;
    }

    private async Task<bool> SendAsync(FileTree tree, ReplicaEntry entry, List<Member> lacking, CancellationToken ct)
    {
        await using var file = await tree.OpenCommittedAsync(entry.Path, ct).ConfigureAwait(false);
        if (file is null || file.Stamp != entry.Stamp) return true; // changed since it was listed: the change replicates itself
        bool all = true;
        foreach (var member in lacking)
            all &= await sender.SendAsync(tree.NamespaceName, file, member, ReplicateReason.Rebalance, limiter, ct).ConfigureAwait(false) != FileCopyOutcome.Failed;
        return all;
    }
}
