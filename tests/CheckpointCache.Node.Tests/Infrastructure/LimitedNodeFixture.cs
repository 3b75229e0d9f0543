namespace CheckpointCache.Node.Tests.Infrastructure;

/// <summary>A node with small limits, so every limit can be crossed cheaply.</summary>
public sealed class LimitedNodeFixture : IAsyncLifetime
{
    public const int MaxKeyBytes = 64;
    public const int MaxValueBytes = 2 * 1024 * 1024;
    public const int MaxBatchKeys = 8;
    public const int MaxBatchBytes = 4 * 1024 * 1024;
    public const int MaxSharedBuffers = 3;
    public const int MaxSharedBufferBytes = 64 * 1024 * 1024;

    private TestNode? _node;

    public TestNode Node => _node ?? throw new InvalidOperationException("fixture not started");

    public async Task InitializeAsync() => _node = await TestNode.StartAsync(s =>
    {
        s["Limits:MaxKeyBytes"] = MaxKeyBytes.ToString();
        s["Limits:MaxValueBytes"] = MaxValueBytes.ToString();
        s["Limits:MaxBatchKeys"] = MaxBatchKeys.ToString();
        s["Limits:MaxBatchBytes"] = MaxBatchBytes.ToString();
        s["Limits:MaxPinTtl"] = "00:00:30";
        s["Limits:MaxSharedBuffers"] = MaxSharedBuffers.ToString();
        s["Limits:MaxSharedBufferBytes"] = MaxSharedBufferBytes.ToString();
    });

    public async Task DisposeAsync()
    {
        if (_node is not null) await _node.DisposeAsync();
    }
}
