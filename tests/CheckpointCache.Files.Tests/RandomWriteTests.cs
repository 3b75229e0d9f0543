using CheckpointCache.Engine.Files;

namespace CheckpointCache.Files.Tests;

/// <summary>Random writes, overwrites and truncations against a byte-array model, through commits and a restart.</summary>
public sealed class RandomWriteTests : IAsyncLifetime
{
    private readonly TestFolder _folder = new();
    private FilesHarness _files = null!;

    public async Task InitializeAsync() => _files = await FilesHarness.StartAsync(_folder.Path, maxStagedBytes: 4 * FilesHarness.BlockBytes);

    public async Task DisposeAsync()
    {
        await _files.DisposeAsync();
        _folder.Dispose();
    }

    [Fact]
    public async Task Random_writes_overwrites_and_truncations_match_a_model_after_commits_and_a_restart()
    {
        const int B = FilesHarness.BlockBytes;
        var random = new Random(42);
        var model = new List<byte>(TestData.Random(1, 5 * B + 123));
        await _files.WriteFileAsync("/model.bin", model.ToArray());

        for (int round = 0; round < 6; round++)
        {
            var session = await _files.Tree.OpenAsync("/model.bin", OpenMode.ReadWrite);
            for (int op = 0; op < 40; op++)
            {
                int kind = random.Next(10);
                if (kind == 0)
                {
                    int size = random.Next(0, 9 * B);
                    await session.TruncateAsync(size);
                    if (size < model.Count) model.RemoveRange(size, model.Count - size);
                    else model.AddRange(new byte[size - model.Count]);
                }
                else
                {
                    int offset = random.Next(0, Math.Max(1, model.Count + B));
                    int length = random.Next(1, kind == 1 ? 3 * B : 9000);
                    var data = TestData.Random(random.Next(), length);
                    await session.WriteAsync(offset, data);
                    if (offset + length > model.Count) model.AddRange(new byte[offset + length - model.Count]);
                    for (int i = 0; i < length; i++) model[offset + i] = data[i];
                }
                if (op % 13 == 0)
                {
                    // The writer sees its own uncommitted writes.
                    var own = new byte[model.Count];
                    Assert.Equal(model.Count, session.Size);
                    Assert.Equal(model.Count, await session.ReadAsync(0, own));
                    Assert.True(model.ToArray().AsSpan().SequenceEqual(own), $"round {round} op {op}: own view differs");
                }
            }
            Assert.Equal(DurabilityLevel.Local, await session.CloseAsync(commit: true));
            Assert.Equal(model.ToArray(), await _files.ReadFileAsync("/model.bin"));
        }

        await _files.RestartAsync();
        Assert.Equal(model.ToArray(), await _files.ReadFileAsync("/model.bin"));
        Assert.Equal(model.Count, (await _files.Tree.StatAsync("/model.bin")).Size);
    }

    [Fact]
    public async Task Sparse_files_read_zeros_only_where_they_were_extended()
    {
        const int B = FilesHarness.BlockBytes;
        var session = await _files.Tree.OpenAsync("/sparse", OpenMode.ReadWrite | OpenMode.Create);
        var tail = TestData.Random(7, 100);
        await session.WriteAsync(3L * B + 5, tail);
        await session.CommitAsync();
        var head = TestData.Random(8, 2 * B);
        await session.WriteAsync(0, head);
        // Shrinking drops bytes; growing again shows zeros where they were, not the old bytes.
        await session.TruncateAsync(B + 10);
        await session.TruncateAsync(2L * B);
        await session.CloseAsync(commit: true);

        var expected = new byte[2 * B];
        head.AsSpan(0, B + 10).CopyTo(expected);
        Assert.Equal(expected, await _files.ReadFileAsync("/sparse"));
        var status = (await _files.Tree.GetStatusAsync("/sparse")).Single();
        Assert.Equal(FileState.Committed, status.State);
        Assert.Equal(0, status.MissingBlocks);
    }

    [Fact]
    public async Task A_large_file_written_in_unaligned_pieces_round_trips()
    {
        var content = TestData.Random(3, 3 * 1024 * 1024 + 17);
        var session = await _files.Tree.OpenAsync("/big", OpenMode.Write | OpenMode.Create);
        int offset = 0;
        var random = new Random(5);
        while (offset < content.Length)
        {
            int n = Math.Min(content.Length - offset, random.Next(1, 300_000));
            await session.WriteAsync(offset, content.AsMemory(offset, n));
            offset += n;
        }
        await session.CloseAsync(commit: true);
        Assert.Equal(content, await _files.ReadFileAsync("/big"));
        Assert.Equal(content.Length, (await _files.Tree.StatAsync("big")).Size);
    }
}
