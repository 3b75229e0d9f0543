using CheckpointCache.Engine.Files;

namespace CheckpointCache.Files.Tests;

/// <summary>
/// The tree's side of replicated files stores: copies made elsewhere are installed only when newer, a delete's
/// tombstone keeps older copies out, and stamps and tombstones survive restarts (through the journal alone, and
/// through snapshots).
/// </summary>
public sealed class ReplicaStampTests
{
    private static readonly FileStamp First = new(1_000, "n9");
    private static readonly FileStamp Second = new(2_000, "n9");
    private static readonly FileStamp Deleted = new(3_000, "n8");

    private static async Task<bool> TakeAsync(FileTree tree, string path, FileStamp stamp, byte[] content)
    {
        await using var writer = await tree.BeginReplicaAsync(path, stamp);
        if (writer is null) return false;
        await writer.WriteAsync(0, content);
        return await writer.CompleteAsync(content.Length);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(10_000)]
    public async Task Copies_are_taken_only_when_newer_and_tombstones_keep_old_copies_out_across_restarts(int snapshotEvery)
    {
        using var folder = new TestFolder();
        await using var files = await FilesHarness.StartAsync(folder.Path, snapshotEvery: snapshotEvery);
        var v1 = TestData.Random(1, 300_000);
        var v2 = TestData.Random(2, 200_001);

        Assert.True(await TakeAsync(files.Tree, "/run/step-1/model.pt", First, v1));
        Assert.Equal(v1, await files.ReadFileAsync("/run/step-1/model.pt"));
        // The same version again, or an older one, is not taken.
        Assert.False(await TakeAsync(files.Tree, "/run/step-1/model.pt", First, v2));
        Assert.True(await TakeAsync(files.Tree, "/run/step-1/model.pt", Second, v2));
        Assert.False(await TakeAsync(files.Tree, "/run/step-1/model.pt", First, v1));
        Assert.Equal(v2, await files.ReadFileAsync("/run/step-1/model.pt"));
        Assert.True(await TakeAsync(files.Tree, "/run/step-1/optim.pt", First, v1));

        // An unfinished copy leaves nothing behind: no file, no hidden temporary.
        await using (var cut = await files.Tree.BeginReplicaAsync("/run/step-1/cut.pt", First))
            await cut!.WriteAsync(0, v1);
        var (entries, exists) = await files.Tree.ListReplicaEntriesAsync("/run/step-1");
        Assert.True(exists);
        Assert.Equal(["/run/step-1/model.pt", "/run/step-1/optim.pt"], entries.Select(e => e.Path).Order(StringComparer.Ordinal));

        Assert.True(await files.Tree.ApplyRemoteDeleteAsync("/run/step-1/model.pt", Deleted));
        Assert.True(await files.Tree.ApplyRemoteDeleteAsync("/run/step-1/never-here.pt", Deleted));
        // A delete older than the copy here is not applied.
        Assert.False(await files.Tree.ApplyRemoteDeleteAsync("/run/step-1/optim.pt", new FileStamp(500, "n7")));

        await files.RestartAsync();
        Assert.False(await TakeAsync(files.Tree, "/run/step-1/model.pt", Second, v2));
        Assert.False(await TakeAsync(files.Tree, "/run/step-1/never-here.pt", Second, v2));
        var held = await files.Tree.ListHeldFilesAsync();
        Assert.Equal(First, held.Single().Stamp);
        Assert.Equal("/run/step-1/optim.pt", held.Single().Path);
        (entries, _) = await files.Tree.ListReplicaEntriesAsync("/run/step-1");
        Assert.Contains(entries, e => e is { Path: "/run/step-1/model.pt", Tombstone: true } && e.Stamp == Deleted);
        // A newer version than the tombstone is taken: the path was written again after the delete.
        Assert.True(await TakeAsync(files.Tree, "/run/step-1/model.pt", new FileStamp(4_000, "n9"), v1));
        Assert.Equal(v1, await files.ReadFileAsync("/run/step-1/model.pt"));

        // A rename made elsewhere moves the copy and leaves a tombstone at the old name.
        Assert.True(await files.Tree.ApplyRemoteRenameAsync("/run/step-1/optim.pt", "/run/step-1/optim-final.pt", new FileStamp(5_000, "n9")));
        await files.RestartAsync();
        Assert.Equal(v1, await files.ReadFileAsync("/run/step-1/optim-final.pt"));
        Assert.False(await TakeAsync(files.Tree, "/run/step-1/optim.pt", First, v1));
    }

    [Fact]
    public async Task Only_the_writer_uploads_until_a_copy_is_adopted_and_local_changes_reach_the_replicator()
    {
        using var folder = new TestFolder();
        var cold = new MemoryColdTier();
        await using var files = await FilesHarness.StartAsync(folder.Path, coldTier: cold);
        var replicator = new RecordingReplicator("n1");
        files.Tree.AttachReplicator(replicator);
        await files.Tree.MkdirAsync("/d");

        var session = await files.Tree.OpenAsync("/d/own.pt.tmp", OpenMode.Write | OpenMode.Create | OpenMode.Truncate);
        await session.WriteAsync(0, TestData.Random(5, 100_000));
        Assert.Equal(DurabilityLevel.Replicated, await session.CloseAsync(commit: true));
        Assert.Equal(2, session.Replicas);
        Assert.Equal(["/d/own.pt.tmp"], replicator.Replicated);
        await files.Tree.RenameAsync("/d/own.pt.tmp", "/d/own.pt");
        Assert.Equal([("/d/own.pt.tmp", "/d/own.pt")], replicator.Renamed);
        Assert.Equal("n1", (await files.Tree.GetStatusAsync("/d/own.pt")).Single().Origin);

        // A copy written by n2 is not uploaded here: n2 uploads it.
        Assert.True(await TakeAsync(files.Tree, "/d/copy.pt", new FileStamp(1_000, "n2"), TestData.Random(6, 50_000)));
        await DrainAsync(files.Tree);
        Assert.Equal(["/d/own.pt"], cold.Objects.Keys.Order(StringComparer.Ordinal));

        // n2 left the cluster: this node takes its upload over.
        Assert.Equal(1, await files.Tree.AdoptUploadsAsync(e => e.Stamp.Origin == "n2"));
        await DrainAsync(files.Tree);
        Assert.Equal(["/d/copy.pt", "/d/own.pt"], cold.Objects.Keys.Order(StringComparer.Ordinal));

        await files.Tree.DeleteAsync("/d/copy.pt");
        Assert.Equal(["/d/copy.pt"], replicator.Removed);
    }

    [Fact]
    public async Task A_path_deleted_in_the_cluster_is_not_restored_from_an_older_copy_in_the_cold_tier()
    {
        using var folder = new TestFolder();
        var cold = new MemoryColdTier();
        await using var files = await FilesHarness.StartAsync(folder.Path, coldTier: cold);
        files.Tree.AttachReplicator(new RecordingReplicator("n1"));
        var old = TestData.Random(8, 40_000);
        cold.Objects["/e/deleted.pt"] = old;
        cold.Objects["/e/kept.pt"] = old;

        Assert.True(await files.Tree.ApplyRemoteDeleteAsync("/e/deleted.pt", new FileStamp(9_000, "n2")));
        var e = await Assert.ThrowsAsync<FilesException>(() => files.Tree.StatAsync("/e/deleted.pt"));
        Assert.Equal(FilesErrorCode.NotFound, e.Code);
        // No tombstone, no holder: the cold tier still serves it.
        Assert.Equal(old, await files.ReadFileAsync("/e/kept.pt"));
    }

    private static async Task DrainAsync(FileTree tree)
    {
        // A condition, not a time: the queue works by itself; the limit only stops a broken one.
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (tree.GetWritebackStats() is { BacklogObjects: > 0 } w)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"backlog {w.BacklogObjects}");
            await Task.Delay(20);
        }
    }
}
