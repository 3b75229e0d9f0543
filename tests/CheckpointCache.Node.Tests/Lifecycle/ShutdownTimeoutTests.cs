using CheckpointCache.Client;
using CheckpointCache.Node.Tests.Infrastructure;
using CheckpointCache.Rpc.Kv.V1;
using Google.Protobuf;

namespace CheckpointCache.Node.Tests.Lifecycle;

/// <summary>
/// A write that never finishes cannot hold a SIGTERM'd node: it exits by itself, bounded by Node:ShutdownTimeout,
/// with the exit code that says the drain was cut short (3) or the watchdog ended it (4), and a log line saying
/// which (3 is what a machine that is not starved gives; both are accepted, no time is measured). The writes that
/// did finish are committed all the same: the test's checkpoint interval is an hour, so only the drain commits them.
/// </summary>
public sealed class ShutdownTimeoutTests
{
    [Fact]
    public async Task AWriteThatNeverEndsDoesNotHoldTheShutdown()
    {
        using var dir = new TestDirectory();
        var settings = TestSettings.For(dir.Path);
        settings["Node:ShutdownTimeout"] = "00:00:02";
        settings["Logging:LogLevel:CheckpointCache.Node"] = "Information";
        using var node = await NodeProcess.StartAsync(TestSettings.Args(settings));
        using var client = CacheClient.Connect(node.UnixEndpoint);
        var ns = await TestData.DeclareAsync(client, "stuck");
        var done = new KvItem(TestData.Key("done"), TestData.Value(7, 200_000));
        Assert.True((await client.BatchPutAsync(ns, [done]))[0].Ok);

        // One item announced as 1 MiB, 4 KiB of it sent, and the stream left open: a write in flight forever.
        using var call = client.Kv.BatchPut();
        await call.RequestStream.WriteAsync(new PutFrame
        {
            Namespace = ns.ToRef(), NewItem = true, Key = ByteString.CopyFromUtf8("stuck"), TotalLength = 1 << 20,
            Data = ByteString.CopyFrom(new byte[4096]),
        });
        await Probes.WaitForAsync(async () => (await client.GetStatsAsync()).Lifecycle.WritesInFlight == 1, "the write to be in flight");

        int code = await node.StopAsync();
        Assert.True(code is 3 or 4, $"exit code {code}:\n{node.Output}");
        if (code == 3)
        {
            Assert.Contains("writes still in flight when their share of the drain", node.Output);
            Assert.Contains("Shutdown complete", node.Output);
        }
        else
        {
            Assert.Contains("Node:ShutdownTimeout (00:00:02) passed before the node had stopped", node.Output);
        }
        Assert.Contains("committed True", node.Output);

        // The acknowledged write is there after a restart; the one that never finished is not.
        using var again = await NodeProcess.StartAsync(TestSettings.Args(settings));
        using var client2 = CacheClient.Connect(again.UnixEndpoint);
        var got = await client2.BatchGetAsync(ns, [done.Key, TestData.Key("stuck")]);
        Assert.True(got[0].Hit, got[0].Message);
        Assert.Equal(done.Value.ToArray(), got[0].Value);
        Assert.False(got[1].Hit);
        Assert.Equal(0, await again.StopAsync());
    }
}
