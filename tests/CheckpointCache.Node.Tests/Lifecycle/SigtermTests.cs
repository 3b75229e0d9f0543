using CheckpointCache.Client;
using CheckpointCache.Node.Tests.Cluster;
using CheckpointCache.Node.Tests.Infrastructure;
using Grpc.Core;

namespace CheckpointCache.Node.Tests.Lifecycle;

/// <summary>
/// SIGTERM in the middle of a stream of puts, on a member of a real etcd cluster: nothing acknowledged is lost, the
/// node leaves etcd itself (lease revoked), and it exits by itself with the clean exit code after logging that its
/// shutdown path completed. Nothing is timed: the limits only keep a broken node from hanging the suite.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class SigtermTests
{
    [Fact]
    public async Task SigtermDuringPutsKeepsEveryAcknowledgedPutLeavesEtcdAndExitsCleanly()
    {
        if (!EtcdProcess.Installed) Assert.Fail("etcd is not installed (scripts/test.sh installs etcd-server)");
        using var cluster = await TestCluster.StartAsync(2);
        var n1 = cluster["n1"];
        var n2 = cluster["n2"];

        // status shows the cluster at a glance.
        var status = await CliRunner.RunAsync(["status", "--endpoint", n1.Process.UnixEndpoint, "--interval", "0"]);
        Assert.Equal(0, status.ExitCode);
        Assert.Contains("cluster     2 members [n1, n2]", status.StandardOutput);
        Assert.Contains("rebalance settled", status.StandardOutput);

        var kv = await TestData.DeclareAsync(n1.Client, "sigterm");
        var ckpt = await n1.Client.DeclareNamespaceAsync(TestData.Descriptor("sigterm-ckpt"), TestCluster.Store);
        var acknowledged = new List<(KvNamespace Ns, KvItem Item)>();
        int attempted = 0;
        using var stop = new CancellationTokenSource();
        var firstAcks = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writer = Task.Run(async () =>
        {
            // One item per call, alternating the local store and the replicated one, until the node stops answering.
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                var ns = i % 2 == 0 ? kv : ckpt;
                var item = new KvItem(TestData.Key($"put-{i}"), TestData.Value(i, 64 * 1024 + i));
                attempted++;
                try
                {
                    var result = (await n1.Client.BatchPutAsync(ns, [item]))[0];
                    if (result.Ok) lock (acknowledged) acknowledged.Add((ns, item));
                }
                catch (RpcException)
                {
                    return; // refused by the drain, or the listener closed: the stream of puts is over
                }
                if (i == 20) firstAcks.TrySetResult();
            }
        });

        await firstAcks.Task.WaitAsync(TimeSpan.FromMinutes(2));
        int exitCode = await n1.Process.StopAsync(); // SIGTERM while puts are under way
        stop.Cancel();
        await writer.WaitAsync(TimeSpan.FromMinutes(2));

        // It exited by itself, cleanly, after its shutdown path completed and it left etcd.
        Assert.True(exitCode == 0, $"exit code {exitCode}:\n{n1.Process.Output}");
        var log = n1.Process.Output;
        Assert.Contains("Draining (shutdown)", log);
        Assert.Contains("Left the cluster (lease", log);
        Assert.Contains("Drain complete", log);
        Assert.Contains("Shutdown complete", log);

        // The survivor sees n1 gone (its record was deleted with the lease) and settles alone.
        await TestCluster.WaitSettledAsync([n2]);

        // Restarted on the same data: every acknowledged put is there.
        Assert.True(acknowledged.Count > 20, $"only {acknowledged.Count} of {attempted} puts acknowledged");
        await n1.StartAgainAsync();
        await TestCluster.WaitSettledAsync([n1, n2]);
        foreach (var group in acknowledged.GroupBy(a => a.Ns.Store))
        {
            var items = group.ToList();
            var got = await n1.Client.BatchGetAsync(items[0].Ns, items.Select(a => a.Item.Key).ToList());
            for (int i = 0; i < items.Count; i++)
            {
                Assert.True(got[i].Hit, $"{group.Key} item {i}: {got[i].Message}");
                Assert.True(items[i].Item.Value.Span.SequenceEqual(got[i].Value), $"{group.Key} item {i} differs after the restart");
            }
        }
    }
}
