using CheckpointCache.CloudTier.Blob;
using CheckpointCache.CloudTier.Options;
using CheckpointCache.CloudTier.Policy;
using CheckpointCache.CloudTier.Throttling;

namespace CheckpointCache.CloudTier.Tests;

/// <summary>Naming, policies and backoff, without processes.</summary>
public sealed class UnitTests
{
    [Fact]
    public void BlobNamesPutAHashFirstAndMapBack()
    {
        var a = BlobNaming.NameOf("files", "/ckpt/step-100/rank-0.pt");
        var b = BlobNaming.NameOf("files", "/ckpt/step-100/rank-1.pt");
        Assert.Matches("^[0-9a-f]{4}/files/ckpt/step-100/rank-0.pt$", a);
        Assert.NotEqual(a[..4], b[..4]); // different files of one checkpoint spread over name ranges (true for these two)
        Assert.Equal(("files", "/ckpt/step-100/rank-0.pt"), BlobNaming.Parse(a));
        Assert.Null(BlobNaming.Parse("0000/files/not-made-by-us"));
        Assert.Null(BlobNaming.Parse("random-name"));
    }

    [Theory]
    [InlineData("/models/**", "/models/llama/weights.bin", true)]
    [InlineData("/models/**", "/data/x", false)]
    [InlineData("**/*.safetensors", "/a/b/c.safetensors", true)]
    [InlineData("**/*.safetensors", "/c.safetensors", true)]
    [InlineData("/ckpt/*/model.pt", "/ckpt/step-5/model.pt", true)]
    [InlineData("/ckpt/*/model.pt", "/ckpt/step-5/sub/model.pt", false)]
    [InlineData("/latest", "/latest", true)]
    [InlineData("/late?t", "/latest", true)]
    public void PatternsAreGlobs(string glob, string path, bool selected)
    {
        var policy = new PersistPolicy(new PersistOptions { Kind = PersistKind.Patterns, Patterns = [glob] });
        Assert.Equal(selected, policy.Selects(path));
    }

    [Fact]
    public void EveryNthCheckpointDirectoryGoesByTheStepInItsName()
    {
        var policy = new PersistPolicy(new PersistOptions
        {
            Kind = PersistKind.EveryNthCheckpointDirectory, N = 5, DirectoryDepth = 2, StepInterval = 100, Patterns = ["/latest"],
        });
        var selected = Enumerable.Range(1, 10).Select(i => $"/ckpt/step-{i * 100}/model.pt").Where(policy.Selects).ToList();
        Assert.Equal(["/ckpt/step-500/model.pt", "/ckpt/step-1000/model.pt"], selected);
        Assert.True(policy.Selects("/latest"));
        Assert.False(policy.Selects("/ckpt/step-500")); // a file at the directory's depth is not in a checkpoint
        Assert.False(policy.Selects("/ckpt/notes/readme"));
    }

    [Fact]
    public void OptionsAreValidated()
    {
        Assert.Contains(new CloudTierOptions { Enabled = true }.Validate(), e => e.Contains("ConnectionString", StringComparison.Ordinal));
        Assert.Contains(new CloudTierOptions { ConnectionString = "x", Container = "Bad_Name" }.Validate(), e => e.Contains("Container", StringComparison.Ordinal));
        Assert.Contains(new CloudTierOptions { ConnectionString = "x", Persist = new PersistOptions { Kind = PersistKind.EveryNthCheckpointDirectory, StepPattern = "\\d+" } }.Validate(),
            e => e.Contains("capture group", StringComparison.Ordinal));
        Assert.Empty(new CloudTierOptions { ConnectionString = "x" }.Validate());
    }

    [Fact]
    public void BackoffDoublesWithJitterUpToItsCap()
    {
        var retry = new RetryRunner(5, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        for (int i = 0; i < 50; i++)
        {
            var first = retry.Delay(1).TotalMilliseconds;
            Assert.InRange(first, 50, 100);
            Assert.InRange(retry.Delay(3).TotalMilliseconds, 200, 400);
            Assert.InRange(retry.Delay(20).TotalMilliseconds, 500, 1000);
        }
        Assert.True(RetryRunner.IsTransient(new Azure.RequestFailedException(503, "busy"), CancellationToken.None));
        Assert.True(RetryRunner.IsTransient(new Azure.RequestFailedException(500, "oops"), CancellationToken.None));
        Assert.True(RetryRunner.IsTransient(new HttpRequestException("refused"), CancellationToken.None));
        Assert.False(RetryRunner.IsTransient(new Azure.RequestFailedException(403, "denied"), CancellationToken.None));
    }
}
