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
    /// <summary>
    /// The weight of <paramref name="member"/> for a key: the key is hashed once (XXH3-64), then mixed with the
    /// member's seed (XXH3-64 of its id) by the SplitMix64 finaliser, a few nanoseconds per member. This function
    /// decides where data lives: changing it moves every key, so it is part of the on-disk contract.
    /// </summary>
    public static ulong Weight(ReadOnlySpan<byte> key, Member member) => Mix(XxHash3.HashToUInt64(key), member.Seed);

    private static ulong Mix(ulong keyHash, ulong seed)
    {
        ulong z = keyHash ^ seed;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>
    /// The <paramref name="replicas"/> owners of <paramref name="key"/>, best first. With a failure-domain label,
    /// owners are taken from distinct domains first (in weight order), then by weight among the rest.
    /// Costs one hash per member: O(N) per key, with no allocation beyond the answer when no label is used.
    /// </summary>
    public static IReadOnlyList<Member> Owners(ReadOnlySpan<byte> key, MemberView view, int replicas, string failureDomainLabel = "")
    {
        var members = view.Members;
        int count = Math.Min(replicas, members.Count);
        if (count <= 0) return [];
        if (failureDomainLabel.Length == 0) return TopByWeight(key, view, count);

        ulong keyHash = XxHash3.HashToUInt64(key);
        var ranked = new (ulong Weight, Member Member)[members.Count];
        for (int i = 0; i < members.Count; i++) ranked[i] = (Mix(keyHash, members[i].Seed), members[i]);
        Array.Sort(ranked, static (a, b) => Better(a.Weight, a.Member, b.Weight, b.Member) ? -1 : 1);
        var owners = new List<Member>(count);
        var domains = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (_, m) in ranked)
        {
            if (owners.Count == count) break;
            if (domains.Add(m.Label(failureDomainLabel) ?? "")) owners.Add(m);
        }
        foreach (var (_, m) in ranked)
        {
            if (owners.Count == count) break;
            if (!owners.Contains(m)) owners.Add(m);
        }
        return owners;
    }

    /// <summary>The <paramref name="count"/> highest weights, kept in a small sorted buffer while scanning the members once.</summary>
    private static Member[] TopByWeight(ReadOnlySpan<byte> key, MemberView view, int count)
    {
        var best = new Member[count];
        Span<ulong> weights = count <= 64 ? stackalloc ulong[count] : new ulong[count];
        int filled = 0;
        ulong keyHash = XxHash3.HashToUInt64(key);
        var seeds = view.Seeds;
        var members = view.Members;
        for (int i = 0; i < seeds.Length; i++)
        {
            ulong w = Mix(keyHash, seeds[i]);
            // Most members lose against the current last place on the weight alone: no member object is touched.
            if (filled == count && w < weights[count - 1]) continue;
            var m = members[i];
            if (filled == count && !Better(w, m, weights[count - 1], best[count - 1])) continue;
            int at = filled < count ? filled++ : count - 1;
            while (at > 0 && Better(w, m, weights[at - 1], best[at - 1]))
            {
                weights[at] = weights[at - 1];
                best[at] = best[at - 1];
                at--;
            }
            weights[at] = w;
            best[at] = m;
        }
        return best;
    }

    // Highest weight first; ties (astronomically rare) broken by id so every node agrees.
    private static bool Better(ulong w, Member m, ulong otherWeight, Member other)
        => w != otherWeight ? w > otherWeight : string.CompareOrdinal(m.Id, other.Id) < 0;
}
