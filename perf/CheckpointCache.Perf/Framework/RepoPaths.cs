namespace CheckpointCache.Perf.Framework;

/// <summary>Locates the repository, so default data and result folders do not depend on the current directory.</summary>
public static class RepoPaths
{
    public static string Root { get; } = Find();

    /// <summary>Scratch data of a scenario: perf/results/tmp/&lt;scenario&gt; (git-ignored).</summary>
    public static string ScratchFor(string scenario) => Path.Combine(Root, "perf", "results", "tmp", scenario);

    /// <summary>The path relative to the repository when inside it: reports get committed, machine paths should not be.</summary>
    public static string Display(string fullPath)
        => fullPath.StartsWith(Root + "/", StringComparison.Ordinal) ? Path.GetRelativePath(Root, fullPath) : fullPath;

    private static string Find()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "CheckpointCache.sln"))) return dir.FullName;
            }
        }
        return Environment.CurrentDirectory;
    }
}
