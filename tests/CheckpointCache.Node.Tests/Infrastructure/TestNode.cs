using CheckpointCache.Client;
using CheckpointCache.Node.Hosting;

namespace CheckpointCache.Node.Tests.Infrastructure;

/// <summary>A real node hosted in the test process: real engine, real Kestrel on a Unix socket and a free TCP port.</summary>
public sealed class TestNode : IAsyncDisposable
{
    private readonly TestDirectory? _ownedDirectory;

    private TestNode(NodeApplication app, string dataDirectory, TestDirectory? owned)
    {
        App = app;
        DataDirectory = dataDirectory;
        _ownedDirectory = owned;
    }

    public NodeApplication App { get; }
    public string DataDirectory { get; }
    public string UnixEndpoint => App.Endpoints.Single(e => e.StartsWith("unix:", StringComparison.Ordinal));
    public string TcpEndpoint => App.Endpoints.Single(e => e.StartsWith("http://", StringComparison.Ordinal));
    public string MetricsUrl => App.Identity.MetricsUrl!;

    /// <param name="change">Adjusts the default test settings before the node starts.</param>
    public static async Task<TestNode> StartAsync(Action<Dictionary<string, string>>? change = null, string? dataDirectory = null, NodeStartOptions? start = null)
    {
        var owned = dataDirectory is null ? new TestDirectory() : null;
        var dir = dataDirectory ?? owned!.Path;
        var settings = TestSettings.For(dir);
        change?.Invoke(settings);
        try
        {
            var app = await NodeApplication.StartAsync(TestSettings.Args(settings), start);
            return new TestNode(app, dir, owned);
        }
        catch
        {
            owned?.Dispose();
            throw;
        }
    }

    public string Endpoint(Transport transport) => transport == Transport.UnixSocket ? UnixEndpoint : TcpEndpoint;

    public CacheClient Connect(Transport transport = Transport.UnixSocket, CacheClientOptions? options = null)
        => CacheClient.Connect(Endpoint(transport), options);

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        _ownedDirectory?.Dispose();
    }
}
