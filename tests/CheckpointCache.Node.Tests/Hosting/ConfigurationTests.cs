using CheckpointCache.Node.Hosting;
using CheckpointCache.Node.Tests.Infrastructure;

namespace CheckpointCache.Node.Tests.Hosting;

/// <summary>Settings that cannot work stop the node before it opens anything, with a message naming the setting.</summary>
public sealed class ConfigurationTests
{
    private static async Task<NodeConfigurationException> Refused(Action<Dictionary<string, string>> change)
        => await Assert.ThrowsAsync<NodeConfigurationException>(async () => await (await TestNode.StartAsync(change)).DisposeAsync());

    [Fact]
    public async Task ListeningBeyondLoopbackWithoutTlsIsRefused()
    {
        var e = await Refused(s => s["Node:TcpAddress"] = "0.0.0.0");
        Assert.Contains(e.Errors, m => m.Contains("Node:TcpAddress '0.0.0.0' is not a loopback address") && m.Contains("Node:Tls:CertificatePath"));
    }

    [Fact]
    public async Task KeyLimitAboveTheEngineLimitIsRefused()
    {
        var e = await Refused(s => s["Limits:MaxKeyBytes"] = "1020");
        Assert.Contains(e.Errors, m => m.Contains("Limits:MaxKeyBytes (1020)") && m.Contains("Engine:MaxKeyBytes (1024)"));
    }

    [Fact]
    public async Task ValueLimitAboveTheEngineLimitIsRefused()
    {
        var e = await Refused(s => s["Limits:MaxValueBytes"] = "128MiB");
        Assert.Contains(e.Errors, m => m.Contains("Limits:MaxValueBytes (128MiB)"));
    }

    [Fact]
    public async Task OverlongSocketPathIsRefused()
    {
        var e = await Refused(s => s["Node:UnixSocketPath"] = "/tmp/" + new string('s', 120) + ".sock");
        Assert.Contains(e.Errors, m => m.Contains("Node:UnixSocketPath") && m.Contains("107 bytes"));
    }

    [Fact]
    public async Task EngineRefusalsAreConfigurationErrors()
    {
        var e = await Refused(s => s["Engine:Namespaces:kv:SsdBytes"] = "1MiB");
        Assert.Contains(e.Errors, m => m.Contains("SsdBytes"));
    }

    [Fact]
    public async Task ASecondNodeOnALiveSocketIsRefused()
    {
        await using var first = await TestNode.StartAsync();
        using var other = new TestDirectory();
        var socket = first.UnixEndpoint["unix:".Length..];
        var e = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
            await (await TestNode.StartAsync(s => s["Node:UnixSocketPath"] = socket, other.Path)).DisposeAsync());
        Assert.Contains("already listening", e.Message);
        // The first node is untouched.
        using var client = first.Connect();
        Assert.False((await client.GetInfoAsync()).CloudEnabled);
    }
}
