using CheckpointCache.Engine.Files;

namespace CheckpointCache.Files.Tests;

/// <summary>Concurrent writers, uncommitted data across a restart, snapshots, and a full namespace.</summary>
public sealed class ConcurrencyAndRecoveryTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Concurrent_writers_each_publish_a_whole_version_and_the_last_commit_wins()
    {
        await using var files = await FilesHarness.StartAsync(_folder.Path);
        await files.WriteFileAsync("/shared", TestData.Random(0, 100_000));
        var a = await files.Tree.OpenAsync("/shared", OpenMode.Write);
        var b = await files.Tree.OpenAsync("/shared", OpenMode.Write | OpenMode.Truncate);
        var aBytes = TestData.Random(1, 1000);
        var bBytes = TestData.Random(2, 300_000);
        await a.WriteAsync(0, aBytes);
        await b.WriteAsync(0, bBytes);
        Assert.Equal(2, (await files.Tree.StatAsync("/shared")).OpenWriters);
        await b.CloseAsync(commit: true);
        Assert.Equal(bBytes, await files.ReadFileAsync("/shared"));
        await a.CloseAsync(commit: true);
        // A's version: the file as A opened it, with A's write.
        var expected = TestData.Random(0, 100_000);
        aBytes.CopyTo(expected, 0);
        Assert.Equal(expected, await files.ReadFileAsync("/shared"));
        Assert.Equal(0, files.Tree.OpenSessionCount);
        // A restart drains the block reaper first: blocks B's commit retired but A's brought back must not be deleted.
        await files.RestartAsync();
        Assert.Equal(expected, await files.ReadFileAsync("/shared"));
    }

    [Fact]
    public async Task Uncommitted_writes_are_gone_after_a_restart_and_committed_ones_stay()
    {
        await using var files = await FilesHarness.StartAsync(_folder.Path, snapshotEvery: 5);
        for (int i = 0; i < 12; i++) await files.WriteFileAsync($"/f{i}", TestData.Random(i, 1000 * i + 1));
        var open = await files.Tree.OpenAsync("/f3", OpenMode.Write);
        await open.WriteAsync(0, TestData.Random(99, 500_000));
        var fresh = await files.Tree.OpenAsync("/never-committed", OpenMode.Write | OpenMode.Create);
        await fresh.WriteAsync(0, TestData.Random(98, 1000));

        await files.RestartAsync();
        for (int i = 0; i < 12; i++) Assert.Equal(TestData.Random(i, 1000 * i + 1), await files.ReadFileAsync($"/f{i}"));
        // Its creation was journaled and the restart was clean, so it exists, empty: its writes were never committed.
        Assert.Equal(0, (await files.Tree.StatAsync("/never-committed")).Size);
        Assert.Equal(FilesErrorCode.SessionNotFound, (await Assert.ThrowsAsync<FilesException>(() => Task.FromResult(files.Tree.GetSession(open.Id)))).Code);
    }

    [Fact]
    public async Task A_full_namespace_refuses_writes_with_out_of_space_and_keeps_what_was_committed()
    {
        await using var files = await FilesHarness.StartAsync(_folder.Path, ssdMiB: 32);
        var kept = TestData.Random(1, 300_000);
        await files.WriteFileAsync("/kept", kept);
        var session = await files.Tree.OpenAsync("/filler", OpenMode.Write | OpenMode.Create);
        var chunk = TestData.Random(2, FilesHarness.BlockBytes);
        var error = await Assert.ThrowsAsync<FilesException>(async () =>
        {
            for (long offset = 0; ; offset += chunk.Length) await session.WriteAsync(offset, chunk);
        });
        Assert.Equal(FilesErrorCode.OutOfSpace, error.Code);
        // The failed session cannot publish a file with a hole where the refused write was.
        Assert.Equal(FilesErrorCode.OutOfSpace, (await Assert.ThrowsAsync<FilesException>(() => session.CloseAsync(commit: true))).Code);
        Assert.Equal(0, (await files.Tree.StatAsync("/filler")).Size);
        Assert.Equal(kept, await files.ReadFileAsync("/kept"));
    }

    [Fact]
    public async Task Status_reports_each_file_state_and_durability()
    {
        await using var files = await FilesHarness.StartAsync(_folder.Path);
        await files.Tree.MkdirAsync("/ck");
        await files.WriteFileAsync("/ck/a", TestData.Random(1, 3 * FilesHarness.BlockBytes));
        var writing = await files.Tree.OpenAsync("/ck/b", OpenMode.Write | OpenMode.Create);
        await writing.WriteAsync(0, new byte[10]);
        var status = await files.Tree.GetStatusAsync("/ck");
        Assert.Equal(["/ck/a", "/ck/b"], status.Select(s => s.Path));
        Assert.Equal(FileState.Committed, status[0].State);
        Assert.Equal(3, status[0].Blocks);
        Assert.Equal(DurabilityLevel.Local, status[0].Durability);
        Assert.Equal(FileState.Writing, status[1].State);
        Assert.Equal(10, (await files.Tree.StatAsync("/ck/b")).Size);
        Assert.Equal(0, (await files.Tree.StatAsync("/ck/b")).CommittedSize);
        await writing.CloseAsync(commit: false);
    }
}
