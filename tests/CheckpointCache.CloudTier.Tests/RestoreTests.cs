using System.Diagnostics;
using CheckpointCache.Client.Files;
using CheckpointCache.CloudTier.Blob;
using CheckpointCache.CloudTier.Tests.Infrastructure;
using CheckpointCache.Rpc.Files.V1;

namespace CheckpointCache.CloudTier.Tests;

/// <summary>A node with an empty data directory gets files back from Blob: on a read miss, and by Prefetch.</summary>
[Collection(ProcessCollection.Name)]
public sealed class RestoreTests
{
    private static readonly Dictionary<string, byte[]> Files = new()
    {
        ["/models/m1/weights.bin"] = TestData.Random(2 * 1024 * 1024 + 12345, 41),
        ["/models/m1/config.json"] = TestData.Random(777, 42),
        ["/ckpt/step-10/a.bin"] = TestData.Random(1_500_000, 43),
    };

    /// <summary>Writes <see cref="Files"/> through one node until persisted, and stops it: Blob then holds them.</summary>
    private static async Task SeedAsync(AzuriteProcess azurite, string container)
    {
        using var dir = new TestDirectory();
        await using var writer = await CloudNode.StartAsync(dir.Of("data"), CloudNode.CloudSettings(dir.Of("data"), azurite, container));
        foreach (var (path, content) in Files) Assert.Equal(Durability.Persisted, (await writer.WriteAsync(path, content, waitPersisted: true)).Durability);
        await writer.StopAsync();
    }

    [Fact]
    public async Task AWipedNodeRestoresOnReadThrough()
    {
        using var azurite = await AzuriteProcess.StartAsync();
        await SeedAsync(azurite, "wiped");
        // One object is damaged in Blob: same metadata (checksum), different bytes.
        var damaged = azurite.Container("wiped").GetBlobClient(BlobNaming.NameOf("files", "/models/m1/weights.bin"));
        var metadata = (await damaged.GetPropertiesAsync()).Value.Metadata;
        var wrong = (byte[])Files["/models/m1/weights.bin"].Clone();
        wrong[12345] ^= 0x40;
        await damaged.UploadAsync(BinaryData.FromBytes(wrong), new Azure.Storage.Blobs.Models.BlobUploadOptions { Metadata = metadata });
        using var dir = new TestDirectory();
        await using var node = await CloudNode.StartAsync(dir.Of("data"), CloudNode.CloudSettings(dir.Of("data"), azurite, "wiped"));

        Assert.Empty(await node.Files.ListAsync("/"));
        Assert.Equal(Files["/ckpt/step-10/a.bin"], await node.ReadAsync("/ckpt/step-10/a.bin"));
        var status = (await node.Files.StatusAsync("/ckpt/step-10/a.bin")).Objects.Single();
        Assert.Equal(Durability.Persisted, status.Durability);
        Assert.Equal(0, status.MissingBlocks);
        Assert.Equal(1, await node.MetricAsync("checkpointcache_blob_restored_objects_total"));
        // Stat reads through too (the mount stats before it opens).
        Assert.Equal(Files["/models/m1/config.json"].Length, (await node.Files.StatAsync("/models/m1/config.json")).Size);
        // Absent in Blob as well: still a miss, and nothing is uploaded back.
        var missing = await Assert.ThrowsAsync<FilesClientException>(() => node.Files.StatAsync("/nope/x"));
        Assert.Equal(FilesError.NotFound, missing.Error);
        Assert.Equal(0, await node.MetricAsync("checkpointcache_writeback_backlog_objects"));
        Assert.Equal(0, await node.MetricAsync("checkpointcache_writeback_uploaded_objects_total"));
        // The damaged object is an error, never wrong bytes, and nothing of it is left on the node.
        var corrupt = await Assert.ThrowsAsync<FilesClientException>(() => node.ReadAsync("/models/m1/weights.bin"));
        Assert.Equal(FilesError.DataLost, corrupt.Error);
        Assert.Equal(["config.json"], (await node.Files.ListAsync("/models/m1")).Select(e => e.Name));
        // A restored file is a local file from now on: it survives a restart without Blob.
        await node.StopAsync();
        await azurite.StopAsync();
        await node.StartAgainAsync();
        Assert.Equal(Files["/ckpt/step-10/a.bin"], await node.ReadAsync("/ckpt/step-10/a.bin"));
    }

    [Fact]
    public async Task PrefetchWarmsANodeWithProgress()
    {
        using var azurite = await AzuriteProcess.StartAsync();
        await SeedAsync(azurite, "prefetch");
        using var dir = new TestDirectory();
        await using var node = await CloudNode.StartAsync(dir.Of("data"), CloudNode.CloudSettings(dir.Of("data"), azurite, "prefetch"));

        var seen = new List<PrefetchProgress>();
        var last = await node.Files.PrefetchAsync("/models", p => seen.Add(p));
        Assert.Equal(2, last.ObjectsTotal);
        Assert.Equal(2, last.ObjectsDone);
        Assert.Equal(0, last.ObjectsSkipped);
        Assert.Equal(0, last.ObjectsFailed);
        Assert.Equal(Files.Where(f => f.Key.StartsWith("/models/", StringComparison.Ordinal)).Sum(f => (long)f.Value.Length), last.BytesTotal);
        Assert.True(seen.First().ListingDone);
        Assert.Equal(2, await node.MetricAsync("checkpointcache_blob_restored_objects_total"));
        // Here now, without another request to Blob: the status shows the blocks on this node.
        var status = (await node.Files.StatusAsync("/models")).Objects;
        Assert.Equal(2, status.Count);
        Assert.All(status, o => Assert.Equal(o.Blocks, o.BlocksInRam + o.BlocksOnSsd));
        foreach (var path in new[] { "/models/m1/weights.bin", "/models/m1/config.json" }) Assert.Equal(Files[path], await node.ReadAsync(path));
        Assert.DoesNotContain("/ckpt", (await node.Files.ListAsync("/")).Select(e => "/" + e.Name));

        // The CLI: everything already here, exit code 0, and the summary says so.
        var cli = await RunCliAsync(["prefetch", "/models", "--endpoint", node.Process.UnixEndpoint]);
        Assert.True(cli.ExitCode == 0, cli.Output);
        Assert.Contains("0 restored, 2 already here, 0 failed, of 2 objects", cli.Output);
    }

    private static async Task<(int ExitCode, string Output)> RunCliAsync(IEnumerable<string> args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(NodeProcess.ExecutablePath);
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        return (process.ExitCode, await stdout + await stderr);
    }
}
