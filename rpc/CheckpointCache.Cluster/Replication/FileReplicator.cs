using System.Collections.Concurrent;
using CheckpointCache.Cluster.Membership;
using CheckpointCache.Cluster.Options;
using CheckpointCache.Cluster.Peers;
using CheckpointCache.Cluster.Placement;
using CheckpointCache.Engine.Files;
using CheckpointCache.Rpc.Peer.V1;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Cluster.Replication;

/// <summary>
/// The cluster side of replicated files stores (<see cref="IFileReplicator"/>): after a commit it sends the version to
/// the Replicas - 1 best-ranked members of the file's directory other than this node (the next ones when one does not
/// answer), passes deletes and renames on with their stamps, reads local misses from the directory's owners, and
/// merges their listings. Anything it could not finish is left to rebalancing.
/// </summary>
internal sealed class FileReplicator(ClusterOptions options, Func<MemberView> view, string selfId, PeerClients peers, FileCopySender sender,
    ClusterCounters counters, Action triggerRebalance, ILogger logger) : IFileReplicator
{
    private readonly ConcurrentDictionary<(string Store, string Path), DateTime> _absentUntil = new();

    public string Origin => selfId;

    public TimeSpan TombstoneRetention => options.FileTombstoneRetention;

    private int ReplicasOf(FileTree tree) => options.PlacementOf(tree.NamespaceName).Replicas;

    /// <summary>Short calls for what a client waits on (listings, lookups): a member that died but is still listed must not stall them long.</summary>
    private CallOptions QuickCall(CancellationToken ct) => peers.Call(ct, options.PeerCallTimeout < TimeSpan.FromSeconds(5) ? options.PeerCallTimeout : TimeSpan.FromSeconds(5));

    public async Task<int> ReplicateAsync(FileTree tree, CommittedFile file, CancellationToken cancellationToken)
    {
        var members = view();
        int wanted = ReplicasOf(tree) - 1;
        if (members.Find(selfId) is null) { triggerRebalance(); return 1; }
        var directory = FilePath.DirectoryOf(file.Path);
        var ranking = FilePlacement.RankingWithout(directory, selfId, members, wanted + ClusterNode.FallbackMembers, options.FailureDomainLabel);
        // Members that may hold an older version but get no copy now drop theirs, so none of them serves it stale.
        var supersede = SupersedeAsync(tree, file, FilePlacement.Owners(directory, members, wanted + 1 + ClusterNode.FallbackMembers, options.FailureDomainLabel)
            .Where(m => m.Id != selfId && !ranking.Take(wanted).Any(t => t.Id == m.Id)).ToList(), cancellationToken);
        int copies = 0, tried = 0;
        while (copies < wanted && tried < ranking.Count)
        {
            var batch = ranking.Skip(tried).Take(wanted - copies).ToList();
            tried += batch.Count;
            var outcomes = await Task.WhenAll(batch.Select(m => sender.SendAsync(tree.NamespaceName, file, m, ReplicateReason.Write, limiter: null, cancellationToken))).ConfigureAwait(false);
            copies += outcomes.Count(o => o != FileCopyOutcome.Failed);
        }
        if (copies < wanted)
        {
            counters.FileUnderReplicated();
            logger.LogWarning("{Path} of {Store} is on {Holders} of {Replicas} nodes; rebalancing tops it up", file.Path, tree.NamespaceName, copies + 1, wanted + 1);
        }
        // A copy on a fallback member is moved to its owner by rebalancing.
        if (copies < wanted || tried > wanted) triggerRebalance();
        await supersede.ConfigureAwait(false);
        return copies + 1;
    }

    private async Task SupersedeAsync(FileTree tree, CommittedFile file, List<Member> members, CancellationToken ct)
    {
        var request = new RemoveFilesRequest { Store = tree.NamespaceName, Paths = { file.Path }, Stamp = file.Stamp.ToProto(), Superseded = true };
        await Task.WhenAll(members.Select(async m =>
        {
            try
            {
                await peers.For(m.PeerEndpoint).RemoveFilesAsync(request, QuickCall(ct)).ConfigureAwait(false);
            }
            catch (RpcException e) when (!ct.IsCancellationRequested)
            {
                logger.LogDebug("Telling {Member} that {Path} of {Store} has a newer version failed: {Code}", m.Id, file.Path, tree.NamespaceName, e.StatusCode);
            }
        })).ConfigureAwait(false);
    }

    public async Task RemovedAsync(FileTree tree, IReadOnlyList<string> paths, FileStamp stamp, CancellationToken cancellationToken)
    {
        var members = view();
        int count = ReplicasOf(tree) + ClusterNode.FallbackMembers;
        var byMember = paths.SelectMany(p => FilePlacement.Owners(FilePath.DirectoryOf(p), members, count, options.FailureDomainLabel)
            .Where(m => m.Id != selfId).Select(m => (Member: m, Path: p))).GroupBy(x => x.Member.Id);
        await Task.WhenAll(byMember.Select(async g =>
        {
            var request = new RemoveFilesRequest { Store = tree.NamespaceName, Stamp = stamp.ToProto() };
            request.Paths.AddRange(g.Select(x => x.Path));
            try
            {
                await peers.For(g.First().Member.PeerEndpoint).RemoveFilesAsync(request, peers.Call(cancellationToken)).ConfigureAwait(false);
            }
            catch (RpcException e) when (!cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning("Removing {Count} files of {Store} on {Member} failed: {Code}; rebalancing finds the tombstones later", request.Paths.Count, tree.NamespaceName, g.Key, e.StatusCode);
            }
        })).ConfigureAwait(false);
        foreach (var p in paths) _absentUntil.TryRemove((tree.NamespaceName, p), out _);
    }

    public async Task RenamedAsync(FileTree tree, IReadOnlyList<(string Source, string Target)> moves, FileStamp stamp, CancellationToken cancellationToken)
    {
        var members = view();
        int replicas = ReplicasOf(tree);
        var crossing = moves.Where(m => FilePath.DirectoryOf(m.Source) != FilePath.DirectoryOf(m.Target)).ToList();
        if (crossing.Count > 0) await RemovedAsync(tree, crossing.Select(m => m.Source).ToList(), stamp, cancellationToken).ConfigureAwait(false);
        foreach (var (source, target) in moves)
        {
            var directory = FilePath.DirectoryOf(target);
            var targets = FilePlacement.RankingWithout(directory, selfId, members, replicas - 1, options.FailureDomainLabel);
            var missing = new List<Member>();
            if (FilePath.DirectoryOf(source) == directory)
            {
                // Same directory, same holders: they rename their copies, and only one that has none gets the data.
                var others = FilePlacement.Owners(directory, members, replicas + ClusterNode.FallbackMembers, options.FailureDomainLabel).Where(m => m.Id != selfId).ToList();
                var applied = await Task.WhenAll(others.Select(m => RenameAtAsync(tree, m, source, target, stamp, cancellationToken))).ConfigureAwait(false);
                missing.AddRange(targets.Where(t => !others.Select((m, i) => (m, i)).Any(x => x.m.Id == t.Id && applied[x.i])));
            }
            else
            {
                missing.AddRange(targets);
            }
            if (missing.Count == 0) continue;
            await using var file = await tree.OpenCommittedAsync(target, cancellationToken).ConfigureAwait(false);
            if (file is null) continue; // changed again since: that change replicates itself
            var outcomes = await Task.WhenAll(missing.Select(m => sender.SendAsync(tree.NamespaceName, file, m, ReplicateReason.Write, limiter: null, cancellationToken))).ConfigureAwait(false);
            if (outcomes.Any(o => o == FileCopyOutcome.Failed)) triggerRebalance();
        }
    }

    private async Task<bool> RenameAtAsync(FileTree tree, Member member, string source, string target, FileStamp stamp, CancellationToken ct)
    {
        try
        {
            var request = new RenameFileRequest { Store = tree.NamespaceName, Source = source, Target = target, Stamp = stamp.ToProto() };
            return (await peers.For(member.PeerEndpoint).RenameFileAsync(request, peers.Call(ct)).ConfigureAwait(false)).Applied;
        }
        catch (RpcException e) when (!ct.IsCancellationRequested)
        {
            logger.LogWarning("Renaming {Source} of {Store} on {Member} failed: {Code}", source, tree.NamespaceName, member.Id, e.StatusCode);
            return false;
        }
    }

    public async Task<bool> FetchAsync(FileTree tree, string path, CancellationToken cancellationToken)
    {
        var cacheKey = (tree.NamespaceName, path);
        if (_absentUntil.TryGetValue(cacheKey, out var until))
        {
            if (until > DateTime.UtcNow) return false;
            _absentUntil.TryRemove(cacheKey, out _);
        }
        var members = view();
        var directory = FilePath.DirectoryOf(path);
        foreach (var member in FilePlacement.Owners(directory, members, ReplicasOf(tree) + ClusterNode.FallbackMembers, options.FailureDomainLabel).Where(m => m.Id != selfId))
        {
            try
            {
                using var call = peers.For(member.PeerEndpoint).FetchFile(new FetchFileRequest { Store = tree.NamespaceName, Path = path }, peers.Call(cancellationToken, TimeSpan.FromHours(1)));
                if (!await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false) || !call.ResponseStream.Current.Found) continue;
                var (stored, newerHeld) = await FileCopyReceiver.ReceiveAsync(tree, call.ResponseStream.Current, call.ResponseStream, cancellationToken).ConfigureAwait(false);
                if (stored) counters.FileReceived(read: true);
                // Not stored because a newer tombstone is here: the path stays deleted.
                return stored || (newerHeld && await HeldHereAsync(tree, path, cancellationToken).ConfigureAwait(false));
            }
            catch (RpcException e) when (!cancellationToken.IsCancellationRequested)
            {
                logger.LogInformation("Reading {Path} of {Store} from {Member} failed: {Code} {Detail}", path, tree.NamespaceName, member.Id, e.StatusCode, e.Status.Detail);
            }
        }
        // Not a file anywhere: perhaps a directory whose files live elsewhere; it is made here so it can be listed and entered.
        if (await DirectoryExistsElsewhereAsync(tree, path, members, cancellationToken).ConfigureAwait(false))
        {
            await tree.MkdirAsync(path, parents: true, cancellationToken: cancellationToken).ConfigureAwait(false);
            return true;
        }
        if (options.FileNegativeCacheTime > TimeSpan.Zero) _absentUntil[cacheKey] = DateTime.UtcNow + options.FileNegativeCacheTime;
        return false;
    }

    private static async Task<bool> HeldHereAsync(FileTree tree, string path, CancellationToken ct)
    {
        try
        {
            await tree.StatLocalAsync(path, ct).ConfigureAwait(false);
            return true;
        }
        catch (FilesException e) when (e.Code == FilesErrorCode.NotFound)
        {
            return false;
        }
    }

    private async Task<bool> DirectoryExistsElsewhereAsync(FileTree tree, string directory, MemberView members, CancellationToken ct)
    {
        foreach (var member in FilePlacement.Owners(directory, members, ReplicasOf(tree), options.FailureDomainLabel).Where(m => m.Id != selfId))
        {
            try
            {
                var answer = await peers.For(member.PeerEndpoint).ListFilesAsync(new ListFilesRequest { Store = tree.NamespaceName, Directory = directory }, QuickCall(ct)).ConfigureAwait(false);
                if (answer.DirectoryExists) return true;
            }
            catch (RpcException e) when (!ct.IsCancellationRequested)
            {
                logger.LogDebug("Asking {Member} about directory {Directory} of {Store} failed: {Code}", member.Id, directory, tree.NamespaceName, e.StatusCode);
            }
        }
        return false;
    }

    public async Task<IReadOnlyList<ReplicaEntry>> ListAsync(FileTree tree, string directory, CancellationToken cancellationToken)
    {
        var members = FilePlacement.Owners(directory, view(), ReplicasOf(tree), options.FailureDomainLabel).Where(m => m.Id != selfId).ToList();
        var answers = await Task.WhenAll(members.Select(async m =>
        {
            try
            {
                var answer = await peers.For(m.PeerEndpoint).ListFilesAsync(new ListFilesRequest { Store = tree.NamespaceName, Directory = directory }, QuickCall(cancellationToken)).ConfigureAwait(false);
                var entries = answer.Entries.Select(e => e.ToEngine()).ToList();
                // The directory itself, so an empty one that exists elsewhere lists as empty rather than absent.
                if (answer.DirectoryExists) entries.Add(new ReplicaEntry(directory, FileStamp.None, 0, Tombstone: false, IsDirectory: true));
                return entries;
            }
            catch (RpcException e) when (!cancellationToken.IsCancellationRequested)
            {
                logger.LogDebug("Listing {Directory} of {Store} on {Member} failed: {Code}", directory, tree.NamespaceName, m.Id, e.StatusCode);
                return [];
            }
        })).ConfigureAwait(false);
        // Per path the newest stamp, file or tombstone.
        return answers.SelectMany(a => a).GroupBy(e => e.Path, StringComparer.Ordinal).Select(g => g.MaxBy(e => e.Stamp)!).ToList();
    }
}
