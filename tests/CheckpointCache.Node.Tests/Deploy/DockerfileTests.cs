using System.Text.RegularExpressions;

namespace CheckpointCache.Node.Tests.Deploy;

/// <summary>
/// What can be checked of deploy/docker/Dockerfile without building it (this machine reaches no container registry):
/// every path it copies exists, each project the node needs is restored, and the targets the DaemonSet's images name exist.
/// </summary>
public sealed partial class DockerfileTests
{
    private static readonly string Dockerfile = File.ReadAllText(RepoPaths.Of("deploy", "docker", "Dockerfile"));

    [Fact]
    public void EveryCopiedPathExists()
    {
        var sources = CopyLine().Matches(Dockerfile).SelectMany(m => m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.NotEmpty(sources);
        foreach (var source in sources)
            Assert.True(File.Exists(RepoPaths.Of(source)) || Directory.Exists(RepoPaths.Of(source)), $"COPY {source}: not in the repository");
    }

    [Fact]
    public void EveryProjectTheNodeBuildsFromIsCopiedBeforeTheRestore()
    {
        var projects = new[] { "engine/CheckpointCache.Engine", "rpc/CheckpointCache.Client", "rpc/CheckpointCache.Cluster", "rpc/CheckpointCache.Node", "rpc/CheckpointCache.Mount", "cloudtier/CheckpointCache.CloudTier" };
        foreach (var project in projects)
        {
            var csproj = $"{project}/{Path.GetFileName(project)}.csproj";
            Assert.True(File.Exists(RepoPaths.Of(csproj)), csproj);
            Assert.Contains($"COPY {csproj} ", Dockerfile);
        }
        // The references of the node's projects are all among them.
        foreach (var csproj in projects.Select(p => RepoPaths.Of(p, Path.GetFileName(p) + ".csproj")))
            foreach (Match reference in ProjectReference().Matches(File.ReadAllText(csproj)))
                Assert.Contains(projects, p => reference.Groups[1].Value.EndsWith(Path.GetFileName(p) + ".csproj", StringComparison.Ordinal));
    }

    [Fact]
    public void TargetsMatchTheDaemonSetImages()
    {
        Assert.Contains("AS node", Dockerfile);
        Assert.Contains("AS mount", Dockerfile);
        Assert.Contains("fuse3", Dockerfile[Dockerfile.IndexOf("AS mount", StringComparison.Ordinal)..]);
        var daemonSet = File.ReadAllText(RepoPaths.Of("deploy", "kubernetes", "daemonset.yaml"));
        Assert.Contains("image: checkpointcache-node:", daemonSet);
        Assert.Contains("image: checkpointcache-mount:", daemonSet);
        Assert.Contains("-t checkpointcache-node:", Dockerfile);
        Assert.Contains("-t checkpointcache-mount:", Dockerfile);
    }

    /// <summary>COPY lines from the build context (not --from=stage): their sources, without the destination.</summary>
    [GeneratedRegex(@"(?m)^COPY (?!--from)((?:\S+ )+)\S+$")]
    private static partial Regex CopyLine();

    [GeneratedRegex("ProjectReference Include=\"([^\"]+)\"")]
    private static partial Regex ProjectReference();
}
