using CheckpointCache.Client.Files;
using CheckpointCache.CloudTier.Tests.Infrastructure;
using CheckpointCache.Rpc.Files.V1;
using Grpc.Core;

namespace CheckpointCache.CloudTier.Tests;

/// <summary>The default (SSD-only) node: the cloud-tier assembly and the Azure SDK are never loaded.</summary>
[Collection(ProcessCollection.Name)]
public sealed class NoCloudTests
{
    private static readonly string[] CloudAssemblies = ["CheckpointCache.CloudTier.dll", "Azure.Core.dll", "Azure.Storage.Blobs.dll", "Azure.Identity.dll"];

    [Fact]
    public async Task TheDefaultNodeNeverLoadsTheCloudTier()
    {
        using var dir = new TestDirectory();
        await using var node = await CloudNode.StartAsync(dir.Of("data"), CloudNode.BaseSettings(dir.Of("data")));
        // Use the files API as a checkpoint writer would: commit, ask for persisted, status, and a miss.
        var close = await node.WriteAsync("/ckpt/step-1/model.pt", TestData.Random(100_000, 1), waitPersisted: true);
        Assert.Equal(Durability.Local, close.Durability);
        Assert.False(close.PersistPending);
        Assert.Equal(Durability.Local, (await node.Files.StatusAsync("/ckpt")).Objects.Single().Durability);
        await Assert.ThrowsAsync<FilesClientException>(() => node.Files.StatAsync("/absent"));
        var prefetch = await Assert.ThrowsAsync<FilesClientException>(() => node.Files.PrefetchAsync("/"));
        Assert.Equal(StatusCode.FailedPrecondition, prefetch.Status);
        Assert.False((await node.Client.GetInfoAsync()).CloudEnabled);
        Assert.Null((await node.Client.GetStatsAsync()).Cloud);
        Assert.Contains("cloud tier off", node.Process.Output);

        var mapped = node.Process.MappedFiles();
        // The check itself must be able to see managed assemblies: the node's own are mapped.
        Assert.Contains(mapped, f => f.EndsWith("/CheckpointCache.Engine.dll", StringComparison.Ordinal));
        foreach (var assembly in CloudAssemblies) Assert.DoesNotContain(mapped, f => f.EndsWith("/" + assembly, StringComparison.Ordinal));
        Assert.Equal(0, await node.MetricAsync("checkpointcache_blob_requests_total"));
    }

    [Fact]
    public async Task WithTheCloudTierOnTheSameCheckSeesItLoaded()
    {
        // The positive control of the test above: same check, cloud on (Blob need not even be reachable).
        using var azurite = AzuriteProcess.Reserve();
        using var dir = new TestDirectory();
        await using var node = await CloudNode.StartAsync(dir.Of("data"), CloudNode.CloudSettings(dir.Of("data"), azurite, "control"));
        var mapped = node.Process.MappedFiles();
        Assert.Contains(mapped, f => f.EndsWith("/CheckpointCache.CloudTier.dll", StringComparison.Ordinal));
        Assert.Contains(mapped, f => f.EndsWith("/Azure.Storage.Blobs.dll", StringComparison.Ordinal));
        // A connection string, not an account URI: no credential type is loaded.
        Assert.DoesNotContain(mapped, f => f.EndsWith("/Azure.Identity.dll", StringComparison.Ordinal));
        Assert.Contains("cloud tier on", node.Process.Output);
    }
}
