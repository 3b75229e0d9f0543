namespace CheckpointCache.Mount.Tests.Infrastructure;

/// <summary>One node and mount shared by the tests of a class (each test works in a folder of its own).</summary>
public sealed class MountFixture : IAsyncLifetime
{
    private NodeAndMount? _setup;

    public NodeAndMount Setup => _setup ?? throw new InvalidOperationException("fixture not started");

    public async Task InitializeAsync()
    {
        if (NodeAndMount.FuseAvailable) _setup = await NodeAndMount.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_setup is not null) await _setup.DisposeAsync();
    }
}
