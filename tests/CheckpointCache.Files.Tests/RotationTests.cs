using CheckpointCache.Engine.Files;

namespace CheckpointCache.Files.Tests;

/// <summary>
/// The checkpoint rotation a training job does (write step N, delete step N-2) in a store far smaller than
/// everything it writes: deleted files give their space back, so it never runs out.
/// </summary>
public sealed class RotationTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static byte[] Shard(int step, int rank) => TestData.Random(step * 100 + rank, 1_500_000 + rank * 77_777);

    [Fact]
    public async Task Rotating_checkpoint_directories_runs_far_past_the_budget_and_keeps_the_latest_two()
    {
        const long ssdMiB = 40;
        const int ranks = 4;
        await using var files = await FilesHarness.StartAsync(_folder.Path, ssdMiB: ssdMiB);
        long written = 0;
        int steps = 0;
        while (written < 4 * ssdMiB * 1024 * 1024)
        {
            await files.Tree.MkdirAsync($"/step-{steps}", parents: true);
            for (int rank = 0; rank < ranks; rank++)
            {
                var shard = Shard(steps, rank);
                await files.WriteFileAsync($"/step-{steps}/rank-{rank}.pt", shard);
                written += shard.Length;
            }
            if (steps >= 2) await files.Tree.DeleteAsync($"/step-{steps - 2}", recursive: true);
            steps++;
        }
        var usage = files.Tree.GetUsage();
        Assert.True(usage.UsedBytes <= usage.TotalBytes, $"used {usage.UsedBytes} of {usage.TotalBytes}");

        await files.RestartAsync();
        for (int step = steps - 2; step < steps; step++)
            for (int rank = 0; rank < ranks; rank++)
                Assert.Equal(Shard(step, rank), await files.ReadFileAsync($"/step-{step}/rank-{rank}.pt"));
        Assert.Equal(FilesErrorCode.NotFound, (await Assert.ThrowsAsync<FilesException>(() => files.Tree.StatAsync($"/step-{steps - 3}"))).Code);
    }
}
