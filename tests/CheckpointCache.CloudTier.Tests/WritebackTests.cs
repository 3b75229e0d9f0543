using CheckpointCache.CloudTier.Tests.Infrastructure;
using CheckpointCache.Rpc.Files.V1;

namespace CheckpointCache.CloudTier.Tests;

/// <summary>Lazy writeback to Blob (Azurite), through a real node process.</summary>
[Collection(ProcessCollection.Name)]
public sealed class WritebackTests
{
    [Fact]
    public async Task CommittedFilesAreUploadedByteForByte()
    {
        using var azurite = await AzuriteProcess.StartAsync();
        using var dir = new TestDirectory();
        await using var node = await CloudNode.StartAsync(dir.Of("data"), CloudNode.CloudSettings(dir.Of("data"), azurite, "writeback"));
        var files = new Dictionary<string, byte[]>
        {
            ["/ckpt/step-1/model.bin"] = TestData.Random(3 * 1024 * 1024 + 512 * 1024 + 7, 1), // four staged blocks of 1 MiB
            ["/ckpt/step-1/meta.json"] = TestData.Random(1000, 2),                               // one Put Blob
            ["/ckpt/step-1/empty"] = [],
        };
        foreach (var (path, content) in files)
        {
            var close = await node.WriteAsync(path, content, waitPersisted: true);
            Assert.Equal(Durability.Persisted, close.Durability);
            Assert.False(close.PersistPending);
        }

        var container = azurite.Container("writeback");
        Assert.Equal(files.Keys.Order(StringComparer.Ordinal), await Blobs.PathsAsync(container));
        foreach (var (path, content) in files) Assert.Equal(content, await Blobs.ReadVerifiedAsync(container, path));
        await foreach (var item in container.GetBlobsAsync())
            Assert.Matches("^[0-9a-f]{4}/files/ckpt/step-1/", item.Name);

        var status = (await node.Files.StatusAsync("/ckpt")).Objects;
        Assert.All(status, o => Assert.Equal(Durability.Persisted, o.Durability));
        Assert.All(status, o => Assert.False(o.PersistPending));

        Assert.Equal(4, await node.MetricAsync("checkpointcache_blob_requests_total", "op=\"put_block\""));
        Assert.Equal(1, await node.MetricAsync("checkpointcache_blob_requests_total", "op=\"commit_block_list\""));
        Assert.Equal(2, await node.MetricAsync("checkpointcache_blob_requests_total", "op=\"put_blob\""));
        // Every request body counts: the file bytes plus the block list's XML.
        long payload = files.Values.Sum(v => (long)v.Length);
        Assert.InRange(await node.MetricAsync("checkpointcache_blob_bytes_total", "direction=\"up\""), payload, payload + 4096);
        Assert.Equal(3, await node.MetricAsync("checkpointcache_writeback_uploaded_objects_total"));
        Assert.Equal(0, await node.MetricAsync("checkpointcache_writeback_backlog_objects"));
        var info = await node.Client.GetInfoAsync();
        Assert.True(info.CloudEnabled);
        // The same counts in NodeStats (what `checkpointcache status` prints).
        var cloud = (await node.Client.GetStatsAsync()).Cloud;
        Assert.Equal((ulong)await node.MetricAsync("checkpointcache_blob_requests_total"), cloud.BlobRequests);
        Assert.Equal(4ul, cloud.RequestsByOperation.Single(o => o.Op == "put_block").Requests);
        var store = cloud.Stores.Single(w => w.Store == "files");
        Assert.Equal(3ul, store.UploadedObjects);
        Assert.Equal(0ul, store.BacklogObjects);
    }

    [Fact]
    public async Task KillNineWithABacklogThenRestartDrainsIt()
    {
        // Blob is not there yet: every upload fails and the backlog only grows.
        using var azurite = AzuriteProcess.Reserve();
        using var dir = new TestDirectory();
        await using var node = await CloudNode.StartAsync(dir.Of("data"), CloudNode.CloudSettings(dir.Of("data"), azurite, "crash"));
        var files = Enumerable.Range(0, 5).ToDictionary(i => $"/ckpt/step-7/rank-{i}.pt", i => TestData.Random(700_000 + i * 300_000, 10 + i));
        foreach (var (path, content) in files)
        {
            var close = await node.WriteAsync(path, content);
            Assert.Equal(Durability.Local, close.Durability);
            Assert.True(close.PersistPending);
        }
        Assert.All((await node.Files.StatusAsync("/ckpt")).Objects, o => Assert.True(o.PersistPending));
        await node.UntilAsync(async () => await node.MetricAsync("checkpointcache_writeback_failures_total") > 0, "an upload to fail while Blob is away");

        await node.KillAsync();           // kill -9 with the whole backlog pending
        await azurite.StartAgainAsync();  // Blob comes (back)
        await node.StartAgainAsync();

        await node.UntilAsync(async () => (await node.Files.StatusAsync("/ckpt")).Objects.All(o => o.Durability == Durability.Persisted),
            "the backlog recovered from the journal to drain");
        var container = azurite.Container("crash");
        foreach (var (path, content) in files) Assert.Equal(content, await Blobs.ReadVerifiedAsync(container, path));
        Assert.Equal(0, await node.MetricAsync("checkpointcache_writeback_backlog_objects"));
    }

    [Fact]
    public async Task BlobGoingAwayDuringWritebackLosesNothing()
    {
        using var azurite = await AzuriteProcess.StartAsync();
        using var dir = new TestDirectory();
        var settings = CloudNode.CloudSettings(dir.Of("data"), azurite, "outage");
        settings["Cloud:MaxBytesPerSecond"] = (4 * 1024 * 1024).ToString(); // slow enough that the outage lands mid-backlog
        settings["Cloud:ConcurrentUploads"] = "1";
        await using var node = await CloudNode.StartAsync(dir.Of("data"), settings);
        var files = Enumerable.Range(0, 8).ToDictionary(i => $"/run/step-{i}/shard.bin", i => TestData.Random(1024 * 1024 + i * 100_000, 20 + i));
        foreach (var (path, content) in files.Take(5)) await node.WriteAsync(path, content);

        await node.UntilAsync(async () => await node.MetricAsync("checkpointcache_writeback_uploaded_objects_total") >= 1, "the first upload");
        await azurite.StopAsync();
        foreach (var (path, content) in files.Skip(5)) await node.WriteAsync(path, content); // written while Blob is away
        await node.UntilAsync(async () => await node.MetricAsync("checkpointcache_writeback_failures_total") > 0, "uploads to fail during the outage");
        Assert.True(await node.MetricAsync("checkpointcache_writeback_backlog_objects") > 0);

        await azurite.StartAgainAsync();
        await node.UntilAsync(async () => (await node.Files.StatusAsync("/run")).Objects.All(o => o.Durability == Durability.Persisted), "the backlog to drain");
        var container = azurite.Container("outage");
        Assert.Equal(files.Keys.Order(StringComparer.Ordinal), await Blobs.PathsAsync(container));
        foreach (var (path, content) in files) Assert.Equal(content, await Blobs.ReadVerifiedAsync(container, path));
    }

    [Fact]
    public async Task OverwrittenDeletedAndRenamedBeforeUploadAreNotUploaded()
    {
        using var azurite = AzuriteProcess.Reserve();
        using var dir = new TestDirectory();
        var settings = CloudNode.CloudSettings(dir.Of("data"), azurite, "skip");
        settings["Cloud:DeleteRemoteOnDelete"] = "true";
        await using var node = await CloudNode.StartAsync(dir.Of("data"), settings);
        var v1 = TestData.Random(300_000, 31);
        var v2 = TestData.Random(200_000, 32);
        await node.WriteAsync("/a", v1);
        await node.WriteAsync("/a", v2);                       // overwritten before its upload
        await node.WriteAsync("/b", TestData.Random(1000, 33));
        await node.Files.DeleteAsync("/b");                    // deleted before its upload
        var final = TestData.Random(50_000, 34);
        await node.WriteAsync("/c/tmp-123", final);
        await node.Files.RenameAsync("/c/tmp-123", "/c/final"); // the framework's write-then-rename

        await azurite.StartAgainAsync();
        await node.UntilAsync(async () => (await node.Files.StatusAsync("/")).Objects.All(o => o.Durability == Durability.Persisted), "the backlog to drain");
        var container = azurite.Container("skip");
        Assert.Equal(["/a", "/c/final"], await Blobs.PathsAsync(container));
        Assert.Equal(v2, await Blobs.ReadVerifiedAsync(container, "/a"));
        Assert.Equal(final, await Blobs.ReadVerifiedAsync(container, "/c/final"));
        Assert.Equal(2, await node.MetricAsync("checkpointcache_writeback_uploaded_objects_total"));

        // Persisted, then deleted: with DeleteRemoteOnDelete the copy goes too.
        await node.Files.DeleteAsync("/a");
        await node.UntilAsync(async () => !(await Blobs.PathsAsync(container)).Contains("/a"), "the remote copy of /a to be deleted");
        Assert.Equal(["/c/final"], await Blobs.PathsAsync(container));
    }

    [Fact]
    public async Task EveryNthCheckpointDirectoryIsPersistedAndTheOthersStayCacheOnly()
    {
        using var azurite = await AzuriteProcess.StartAsync();
        using var dir = new TestDirectory();
        var settings = CloudNode.CloudSettings(dir.Of("data"), azurite, "nth");
        settings["Cloud:Persist:Kind"] = "EveryNthCheckpointDirectory";
        settings["Cloud:Persist:N"] = "5";
        settings["Cloud:Persist:DirectoryDepth"] = "2";
        settings["Cloud:Persist:StepInterval"] = "100";
        settings["Cloud:Persist:Patterns:0"] = "/latest";
        await using var node = await CloudNode.StartAsync(dir.Of("data"), settings);
        for (int i = 1; i <= 10; i++)
        {
            var close = await node.WriteAsync($"/ckpt/step-{i * 100}/model.pt", TestData.Random(10_000, i), waitPersisted: true);
            bool selected = i % 5 == 0;
            Assert.Equal(selected ? Durability.Persisted : Durability.Local, close.Durability);
            Assert.False(close.PersistPending);
        }
        Assert.Equal(Durability.Persisted, (await node.WriteAsync("/latest", "step-1000"u8.ToArray(), waitPersisted: true)).Durability);

        Assert.Equal(["/ckpt/step-1000/model.pt", "/ckpt/step-500/model.pt", "/latest"], await Blobs.PathsAsync(azurite.Container("nth")));
        var status = (await node.Files.StatusAsync("/ckpt")).Objects;
        Assert.Equal(2, status.Count(o => o.Durability == Durability.Persisted));
        Assert.All(status, o => Assert.False(o.PersistPending));
        Assert.Equal(0, await node.MetricAsync("checkpointcache_writeback_backlog_objects"));
    }
}
