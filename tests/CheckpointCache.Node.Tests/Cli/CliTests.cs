using CheckpointCache.Node.Tests.Infrastructure;

namespace CheckpointCache.Node.Tests.Cli;

/// <summary>The one-minute CLI tour of README.md, run against a real node.</summary>
public sealed class CliTests(NodeFixture fixture) : IClassFixture<NodeFixture>
{
    private Task<CliRunner.Result> Run(params string[] args) => CliRunner.RunAsync([.. args, "--endpoint", fixture.Node.UnixEndpoint]);

    [Fact]
    public async Task PutGetLookupAndStatus()
    {
        using var dir = new TestDirectory();
        var ns = "model=cli/tour,dtype=bf16,tokens_per_block=2";
        var value = TestData.Value(11, 2_500_000);
        File.WriteAllBytes(dir.Of("in.bin"), value);

        var put = await Run("put", ns, "greeting", dir.Of("in.bin"));
        Assert.True(put.ExitCode == 0, put.StandardError);
        Assert.Contains("stored 2500000 bytes", put.StandardOutput);

        var get = await Run("get", ns, "greeting", dir.Of("out.bin"));
        Assert.True(get.ExitCode == 0, get.StandardError);
        Assert.Equal(value, File.ReadAllBytes(dir.Of("out.bin")));

        var fromStdin = await CliRunner.RunAsync(["put", ns, "hex:00ff", "-", "--endpoint", fixture.Node.TcpEndpoint], "hello"u8.ToArray());
        Assert.True(fromStdin.ExitCode == 0, fromStdin.StandardError);
        var toStdout = await Run("get", ns, "0x00FF");
        Assert.Equal("hello", toStdout.StandardOutput);

        var miss = await Run("get", ns, "nothing-here");
        Assert.Equal(1, miss.ExitCode);
        Assert.Contains("miss", miss.StandardError);

        // Blocks for tokens 1,2 and 3,4 by the key spec; only the first is stored.
        var descriptorNs = await CliRunner.RunAsync(["lookup", ns, "--tokens", "1,2,3,4,5", "--endpoint", fixture.Node.UnixEndpoint]);
        Assert.Contains("cached prefix: 0 of 2 blocks", descriptorNs.StandardOutput);
        using (var client = fixture.Node.Connect())
        {
            var declared = await client.DeclareNamespaceAsync(Node.Cli.NamespaceArgument.ParseDescriptor("model=cli/tour,dtype=bf16,tokens_per_block=2"));
            await client.BatchPutAsync(declared, [new(declared.BlockKeys([1, 2])[0], new byte[] { 1 })]);
        }
        var lookup = await Run("lookup", ns, "--tokens", "1,2,3,4,5", "--pin-ms", "2000");
        Assert.True(lookup.ExitCode == 0, lookup.StandardError);
        Assert.Contains("cached prefix: 1 of 2 blocks", lookup.StandardOutput);
        Assert.Contains("pinned until", lookup.StandardOutput);

        var status = await Run("status");
        Assert.True(status.ExitCode == 0, status.StandardError);
        Assert.Contains("cloud tier  off", status.StandardOutput);
        Assert.Contains("kv ", status.StandardOutput);
    }

    [Fact]
    public async Task HelpAndUsageErrors()
    {
        var help = await CliRunner.RunAsync(["--help"]);
        Assert.Equal(0, help.ExitCode);
        foreach (var verb in new[] { "serve", "status", "put", "get", "lookup" }) Assert.Contains(verb, help.StandardOutput);

        var putHelp = await CliRunner.RunAsync(["put", "--help"]);
        Assert.Equal(0, putHelp.ExitCode);
        Assert.Contains("usage: checkpointcache put NS KEY FILE|-", putHelp.StandardOutput);

        var bad = await CliRunner.RunAsync(["put", "onlyone"]);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("put needs NS KEY FILE|-", bad.StandardError);

        var unknown = await CliRunner.RunAsync(["frobnicate"]);
        Assert.Equal(2, unknown.ExitCode);
    }
}
