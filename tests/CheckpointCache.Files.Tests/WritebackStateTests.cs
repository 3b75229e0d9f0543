using CheckpointCache.Engine.Files;

namespace CheckpointCache.Files.Tests;

/// <summary>
/// The writeback state kept in the tree and its journal (Persisted and RemoteDeleted records, snapshot format 2):
/// it survives snapshots and restarts, so nothing is uploaded twice and no remote delete is forgotten.
/// </summary>
public sealed class WritebackStateTests : IAsyncLifetime
{
    private readonly TestFolder _folder = new();
    private readonly MemoryColdTier _cold = new();
    private FilesHarness _files = null!;

    // A snapshot every 3 records, so the state crosses several snapshots.
    public async Task InitializeAsync() => _files = await FilesHarness.StartAsync(_folder.Path, snapshotEvery: 3, coldTier: _cold);

    public async Task DisposeAsync()
    {
        await _files.DisposeAsync();
        _folder.Dispose();
    }

    private async Task DrainAsync()
    {
        // A condition, not a time: the queue works by itself; the limit only stops a broken one.
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            var w = _files.Tree.GetWritebackStats();
            if (w.BacklogObjects == 0 && w.PendingRemoteDeletes == 0) return;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"backlog {w.BacklogObjects}, remote deletes {w.PendingRemoteDeletes}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task PersistedStateAndRemoteDeletesSurviveSnapshotsAndRestarts()
    {
        await _files.Tree.MkdirAsync("/d");
        for (int i = 0; i < 5; i++) await _files.WriteFileAsync($"/d/f{i}", TestData.Random(i, 70_000 + i));
        await DrainAsync();
        Assert.Equal(5, _cold.Uploads.Count);
        Assert.All(await _files.Tree.GetStatusAsync("/d"), o => Assert.Equal(DurabilityLevel.Persisted, o.Durability));

        // Deleted while the cold tier is down: the remote delete must wait, across a restart and snapshots.
        _cold.Down = true;
        await _files.Tree.DeleteAsync("/d/f0");
        await _files.Tree.RenameAsync("/d/f1", "/d/g1");
        for (int i = 0; i < 4; i++) await _files.Tree.MkdirAsync($"/pad{i}"); // more records: more snapshots
        await _files.RestartAsync();
        Assert.Equal(1, _files.Tree.GetWritebackStats().BacklogObjects);       // /d/g1 under its new name
        Assert.Equal(1, _files.Tree.GetWritebackStats().PendingRemoteDeletes); // /d/f0

        _cold.Down = false;
        await DrainAsync();
        Assert.Contains("/d/f0", _cold.Deletes);
        // Renamed after its upload: uploaded under its new name (once: the others were persisted before the restart),
        // and with DeleteRemoteOnDelete the copy under the old name is deleted.
        Assert.Equal(6, _cold.Uploads.Count);
        Assert.Contains("/d/f1", _cold.Deletes);
        Assert.Equal(["/d/f2", "/d/f3", "/d/f4", "/d/g1"], _cold.Objects.Keys.Order(StringComparer.Ordinal));

        await _files.RestartAsync();
        Assert.Equal(0, _files.Tree.GetWritebackStats().BacklogObjects);
        Assert.All(await _files.Tree.GetStatusAsync("/d"), o => Assert.Equal(DurabilityLevel.Persisted, o.Durability));
    }

    [Fact]
    public async Task WaitPersistedAnswersForTheVersionAndReadThroughRestores()
    {
        _cold.Down = true;
        var session = await _files.Tree.OpenAsync("/w", OpenMode.Write | OpenMode.Create | OpenMode.Truncate);
        await session.WriteAsync(0, TestData.Random(9, 10_000));
        await session.CommitAsync();
        Assert.Equal(PersistState.Pending, await _files.Tree.GetPersistStateAsync(session.FileId, session.Version));
        Assert.False(await _files.Tree.WaitPersistedAsync(session.FileId, session.Version, TimeSpan.FromMilliseconds(50)));
        var waiting = _files.Tree.WaitPersistedAsync(session.FileId, session.Version, TimeSpan.FromMinutes(1));
        _cold.Down = false;
        Assert.True(await waiting);
        await session.CloseAsync(commit: false);

        // A path only the cold tier has is restored on open (and marked persisted, so not uploaded back).
        _cold.Objects["/remote/x"] = TestData.Random(10, 150_000);
        Assert.Equal(_cold.Objects["/remote/x"], await _files.ReadFileAsync("/remote/x"));
        var restored = (await _files.Tree.GetStatusAsync("/remote/x")).Single();
        Assert.Equal(DurabilityLevel.Persisted, restored.Durability);
        Assert.Equal(1, _files.Tree.GetWritebackStats().RestoredObjects);
        await DrainAsync();
        Assert.DoesNotContain("/remote/x", _cold.Uploads);
        // No temporary restore file is left behind.
        var (entries, _) = await _files.Tree.ListAsync("/remote", null, 100);
        Assert.Equal(["x"], entries.Select(e => e.Name));
    }

    [Fact]
    public async Task ARestoreCutShortByACrashLeavesNothingAfterTheRestart()
    {
        // What a crash in the middle of a restore leaves: the hidden temporary file, created but never renamed.
        await _files.Tree.MkdirAsync("/m");
        await _files.WriteFileAsync("/m/.cc-restore-0123456789abcdef", TestData.Random(1, 1000));
        await _files.WriteFileAsync("/m/kept", TestData.Random(2, 1000));
        await _files.RestartAsync();
        var (entries, _) = await _files.Tree.ListAsync("/m", null, 100);
        Assert.Equal(["kept"], entries.Select(e => e.Name));
    }
}
