namespace CheckpointCache.Cluster.Membership;

/// <summary>
/// An immutable snapshot of the live members, ordered by id. Every node computes placement from its own
/// view; views converge through the watch, and rebalancing repairs what moved in between.
/// </summary>
public sealed class MemberView
{
    public static readonly MemberView Empty = new(0, []);

    public MemberView(long version, IEnumerable<Member> members)
    {
        Version = version;
        var ordered = members.OrderBy(m => m.Id, StringComparer.Ordinal).ToArray();
        Members = ordered;
        Seeds = ordered.Select(m => m.Seed).ToArray();
    }

    /// <summary>The members' rendezvous seeds, in member order, in one array so placement scans them without chasing objects.</summary>
    internal ulong[] Seeds { get; }

    /// <summary>Increases with every change this node saw (the etcd revision with etcd membership).</summary>
    public long Version { get; }
    public IReadOnlyList<Member> Members { get; }
    public int Count => Members.Count;

    public Member? Find(string id)
    {
        foreach (var m in Members) if (m.Id == id) return m;
        return null;
    }

    public bool SameMembersAs(MemberView other) => Members.SequenceEqual(other.Members);

    public override string ToString() => $"v{Version} [{string.Join(", ", Members.Select(m => m.Id))}]";
}
