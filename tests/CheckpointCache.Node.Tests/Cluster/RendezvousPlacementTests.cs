using System.Text;
using CheckpointCache.Cluster.Membership;
using CheckpointCache.Cluster.Placement;

namespace CheckpointCache.Node.Tests.Cluster;

/// <summary>Properties of rendezvous placement that rebalancing relies on.</summary>
public sealed class RendezvousPlacementTests
{
    private static MemberView View(int n, Func<int, string>? zone = null)
        => new(1, Enumerable.Range(0, n).Select(i => new Member($"node-{i:D3}", $"http://10.0.0.{i}:7402",
            zone is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["zone"] = zone(i) })));

    private static byte[] Key(int i) => Encoding.UTF8.GetBytes($"checkpoint/step-{i}/shard");

    private static string[] Ids(IReadOnlyList<Member> owners) => owners.Select(m => m.Id).ToArray();

    [Fact]
    public void OwnersAreDistinctDeterministicAndIndependentOfListOrder()
    {
        var view = View(10);
        var shuffled = new MemberView(2, view.Members.Reverse());
        for (int i = 0; i < 200; i++)
        {
            var owners = Ids(RendezvousPlacement.Owners(Key(i), view, 3));
            Assert.Equal(3, owners.Distinct().Count());
            Assert.Equal(owners, Ids(RendezvousPlacement.Owners(Key(i), shuffled, 3)));
            Assert.Equal(owners, Ids(RendezvousPlacement.Owners(Key(i), view, 10)).Take(3)); // owners are a prefix of the full ranking
        }
        Assert.Equal(2, RendezvousPlacement.Owners(Key(1), View(2), 3).Count);
        Assert.Empty(RendezvousPlacement.Owners(Key(1), MemberView.Empty, 3));
    }

    [Fact]
    public void KeysSpreadEvenly()
    {
        var view = View(20);
        var counts = new Dictionary<string, int>();
        const int keys = 20_000;
        for (int i = 0; i < keys; i++)
            foreach (var id in Ids(RendezvousPlacement.Owners(Key(i), view, 2))) counts[id] = counts.GetValueOrDefault(id) + 1;
        double mean = keys * 2.0 / 20;
        Assert.All(counts.Values, c => Assert.InRange(c, mean * 0.85, mean * 1.15));
    }

    [Fact]
    public void AJoinMovesOnlyKeysTheNewMemberNowOwnsAndALeaveOnlyKeysTheLeaverOwned()
    {
        var before = View(10);
        var after = View(11);
        var joiner = after.Members.Single(m => before.Find(m.Id) is null).Id;
        int moved = 0;
        const int keys = 10_000;
        for (int i = 0; i < keys; i++)
        {
            var a = Ids(RendezvousPlacement.Owners(Key(i), before, 2));
            var b = Ids(RendezvousPlacement.Owners(Key(i), after, 2));
            if (a.ToHashSet().SetEquals(b)) continue;
            moved++;
            Assert.Contains(joiner, b);                         // only the joiner takes keys ...
            Assert.Single(b.Except(a));                         // ... one copy each ...
            Assert.Equal(b.Where(id => id != joiner), a.Intersect(b)); // ... and no other owner changes
        }
        // Expected share: replicas / N = 2/11 of the keys.
        Assert.InRange(moved, keys * 2 / 11 * 0.85, keys * 2 / 11 * 1.15);

        var leaver = before.Members[3].Id;
        var smaller = new MemberView(2, before.Members.Where(m => m.Id != leaver));
        for (int i = 0; i < keys; i++)
        {
            var a = Ids(RendezvousPlacement.Owners(Key(i), before, 2));
            var b = Ids(RendezvousPlacement.Owners(Key(i), smaller, 2));
            if (!a.Contains(leaver)) Assert.Equal(a, b);
            else Assert.Equal(a.Where(id => id != leaver), b.Intersect(a));
        }
    }

    [Fact]
    public void ReplicasGoToDistinctFailureDomainsFirst()
    {
        var view = View(12, i => $"zone-{i % 3}");
        for (int i = 0; i < 500; i++)
        {
            var three = RendezvousPlacement.Owners(Key(i), view, 3, "zone");
            Assert.Equal(3, three.Select(m => m.Labels["zone"]).Distinct().Count());
            var four = RendezvousPlacement.Owners(Key(i), view, 4, "zone");
            Assert.Equal(Ids(three), Ids(four).Take(3));
            Assert.Equal(4, four.Select(m => m.Id).Distinct().Count());
        }
        // Without the label the same view may put two copies in one zone.
        Assert.Contains(Enumerable.Range(0, 500), i => RendezvousPlacement.Owners(Key(i), view, 3).Select(m => m.Labels["zone"]).Distinct().Count() < 3);
    }
}
