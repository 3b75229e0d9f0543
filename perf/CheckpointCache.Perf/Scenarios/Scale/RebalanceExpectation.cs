using CheckpointCache.Client;
using CheckpointCache.Cluster.Membership;
using CheckpointCache.Cluster.Placement;
using CheckpointCache.Node;

namespace CheckpointCache.Perf.Scenarios.Scale;

/// <summary>
/// What rendezvous hashing says must move when one member joins or is lost: every written key that the member owns
/// under the view with it. On a join each such key is sent to the joiner once (by the highest-ranked owner that
/// holds it); on a loss each is re-copied once to its new owner. About replicas/N of the keys either way.
/// </summary>
internal static class RebalanceExpectation
{
    public static long KeysOwnedBy(string member, IEnumerable<string> members, KvNamespace ns, IEnumerable<byte[]> keys, int replicas)
    {
        // Placement depends on member ids only; endpoints do not enter the hash.
        var view = new MemberView(1, members.Select(id => new Member(id, "http://unused", new Dictionary<string, string>())));
        long owned = 0;
        foreach (var key in keys)
            if (RendezvousPlacement.Owners(NamespaceKey.Compose(ns.Id, key), view, replicas).Any(m => m.Id == member)) owned++;
        return owned;
    }
}
