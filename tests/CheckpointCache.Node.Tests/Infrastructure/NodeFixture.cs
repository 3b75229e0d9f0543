namespace CheckpointCache.Node.Tests.Infrastructure;

/// <summary>One node shared by the tests of a class; each test declares namespaces of its own.</summary>
public sealed class NodeFixture : IAsyncLifetime
{
    private TestNode? _node;

    public TestNode Node => _node ?? throw new InvalidOperationException("fixture not started");

    public async Task InitializeAsync() => _node = await TestNode.StartAsync(s => s["Limits:MaxNamespaces"] = "64");

    public async Task DisposeAsync()
    {
        if (_node is not null) await _node.DisposeAsync();
    }
}
