using CheckpointCache.Cluster.Membership;
using CheckpointCache.Cluster.Options;
using Microsoft.Extensions.Logging.Abstractions;

namespace CheckpointCache.Node.Tests.Cluster;

/// <summary>The membership client in process against a real etcd: what it sends, and that steady state is keep-alives only.</summary>
[Collection(ClusterCollection.Name)]
public sealed class EtcdMembershipTests
{
    private static EtcdOptions Options(EtcdProcess etcd, string prefix) => new()
    {
        Endpoints = etcd.ClientUrl,
        Prefix = prefix,
        // A TTL with room for a starved test machine; keep-alives every second so the steady window is short.
        LeaseTtl = TimeSpan.FromSeconds(8),
        KeepAlivesPerTtl = 8,
        ListPageSize = 2, // three members take two pages: the listing is paged
    };

    [Fact]
    public async Task MembersSeeEachOtherAndSteadyStateIsOneKeepAliveStream()
    {
        if (!EtcdProcess.Installed) throw new InvalidOperationException("etcd-server is not installed (scripts/test.sh installs it)");
        using var etcd = await EtcdProcess.StartAsync();
        var prefix = $"/membership-{Guid.NewGuid():N}/";
        var counters = Enumerable.Range(0, 3).Select(_ => new EtcdRequestCounter()).ToArray();
        var members = counters.Select(c => new EtcdMembership(Options(etcd, prefix), c, NullLogger<EtcdMembership>.Instance)).ToArray();
        try
        {
            for (int i = 0; i < members.Length; i++)
                await members[i].StartAsync(new Member($"m{i}", $"http://127.0.0.1:{9000 + i}", new Dictionary<string, string> { ["zone"] = $"z{i}" }), CancellationToken.None);
            await Eventually.UntilAsync(() => Task.FromResult(members.All(m => m.Current.Count == 3)), "every member to see three");
            Assert.Equal("z1", members[0].Current.Find("m1")!.Labels["zone"]);

            // Joining cost a fixed handful of requests: grant, put, list (one request per page), open one watch.
            var joined = counters.Select(c => c.ByMethod).ToArray();
            foreach (var byMethod in joined)
            {
                Assert.Equal(1, byMethod["LeaseGrant"]);
                Assert.Equal(1, byMethod["Put"]);
                Assert.Equal(1, byMethod["Watch"]);
            }
            Assert.Equal(1, joined[0]["Range"]); // it was alone: one page
            Assert.Equal(2, joined[2]["Range"]); // three members, two per page

            // Steady state: wait for four more keep-alives from every member; nothing else is sent.
            var target = counters.Select(c => c.ByMethod.GetValueOrDefault("LeaseKeepAlive") + 4).ToArray();
            await Eventually.UntilAsync(() => Task.FromResult(counters.Select((c, i) => c.ByMethod.GetValueOrDefault("LeaseKeepAlive") >= target[i]).All(x => x)),
                "four more keep-alives from each member");
            for (int i = 0; i < counters.Length; i++)
            {
                var now = counters[i].ByMethod;
                foreach (var method in new[] { "LeaseGrant", "Put", "Range", "Watch" }) Assert.Equal(joined[i][method], now[method]);
                Assert.Equal(now.Values.Sum(), counters[i].Total);
            }

            // A member leaving cleanly revokes its lease; the others see it at once.
            await members[2].DisposeAsync();
            Assert.Equal(1, counters[2].ByMethod["LeaseRevoke"]);
            await Eventually.UntilAsync(() => Task.FromResult(members[0].Current.Count == 2 && members[1].Current.Count == 2), "the others to see m2 leave");
        }
        finally
        {
            foreach (var m in members) await m.DisposeAsync();
        }
    }
}
