using System.Text;
using CheckpointCache.Cluster.Membership;

namespace CheckpointCache.Cluster.Placement;

/// <summary>
/// Where the copies of a replicated files store live. Placement is keyed by a file's directory, so the files of
/// one checkpoint directory share their holders, a tmp-name to final-name rename inside a directory keeps them,
/// and listing a directory asks only its owners. A version's holders are the member that wrote it (it keeps its
/// copy and uploads it to the cold tier) plus the Replicas - 1 best-ranked other members; once the writer has
/// left, the Replicas best-ranked members.
/// </summary>
public static class FilePlacement
{
    /// <summary>The rendezvous key of a directory (canonical path, "/" for the root). Part of the placement contract.</summary>
    public static byte[] KeyOf(string directory) => Encoding.UTF8.GetBytes(directory);

    /// <summary>The members that hold a version written by <paramref name="origin"/>, the writer first when it is a member.</summary>
    public static IReadOnlyList<Member> Holders(string directory, string origin, MemberView view, int replicas, string failureDomainLabel = "")
    {
        var key = KeyOf(directory);
        if (view.Find(origin) is not { } writer) return RendezvousPlacement.Owners(key, view, replicas, failureDomainLabel);
        var others = RendezvousPlacement.Owners(key, Without(view, origin), replicas - 1, failureDomainLabel);
        return [writer, .. others];
    }

    /// <summary>The members other than <paramref name="self"/>, best first: a writer's Replicas - 1 targets, then its fallbacks.</summary>
    public static IReadOnlyList<Member> RankingWithout(string directory, string self, MemberView view, int count, string failureDomainLabel = "")
        => RendezvousPlacement.Owners(KeyOf(directory), Without(view, self), count, failureDomainLabel);

    /// <summary>The directory's owners (and fallbacks) regardless of writer: where a reader that does not know the writer looks.</summary>
    public static IReadOnlyList<Member> Owners(string directory, MemberView view, int count, string failureDomainLabel = "")
        => RendezvousPlacement.Owners(KeyOf(directory), view, count, failureDomainLabel);

    private static MemberView Without(MemberView view, string id) => new(view.Version, view.Members.Where(m => m.Id != id));
}
