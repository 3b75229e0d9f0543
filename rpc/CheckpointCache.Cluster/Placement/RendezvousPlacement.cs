using System.IO.Hashing;
using CheckpointCache.Cluster.Membership;

namespace CheckpointCache.Cluster.Placement;

/// <summary>
/// Rendezvous (highest-random-weight) hashing: every member gets a weight per key, hash(key, member seed),
/// and the key's owners are the members with the highest weights. Any node computes the same owners from
/// the same member list without asking anyone, and a member joining or leaving changes the owners only of
/// the keys whose top ranks it enters or leaves (about replicas/N of them).
/// </summary>
public static class RendezvousPlacement
{
    public static ulong Weight(ReadOnlySpan<byte> key, Member member) => XxHash3.HashToUInt64(key, (long)member.Seed);

    /// <summary>
    /// The <paramref name="replicas"/> owners of <paramref name="key"/>, best first. With a failure-domain label,
    /// owners are taken from distinct domains first (in weight order), then by weight among the rest.
    /// </summary>
    public static IReadOnlyList<Member> Owners(ReadOnlySpan<byte> key, MemberView view, int replicas, string failureDomainLabel = "")
    {
        var members = view.Members;
        int count = Math.Min(replicas, members.Count);
        if (count == 0) return [];
        var ranked = new (ulong Weight, Member Member)[members.Count];
        for (int i = 0; i < members.Count; i++) ranked[i] = (Weight(key, members[i]), members[i]);
        // Highest weight first; ties (astronomically rare) broken by id so every node agrees.
        Array.Sort(ranked, static (a, b) => a.Weight != b.Weight ? b.Weight.CompareTo(a.Weight) : string.CompareOrdinal(a.Member.Id, b.Member.Id));
        var owners = new List<Member>(count);
        if (failureDomainLabel.Length > 0)
        {
            var domains = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (_, m) in ranked)
            {
                if (owners.Count == count) break;
                if (domains.Add(m.Label(failureDomainLabel) ?? "")) owners.Add(m);
            }
        }
        foreach (var (_, m) in ranked)
        {
            if (owners.Count == count) break;
            if (!owners.Contains(m)) owners.Add(m);
        }
        return owners;
    }

    /// <summary>Every member ranked for the key, best first: owners first, then the fallbacks a write tries when an owner is down.</summary>
    public static IReadOnlyList<Member> Ranking(ReadOnlySpan<byte> key, MemberView view, string failureDomainLabel = "")
        => Owners(key, view, view.Count, failureDomainLabel);
}
